import { describe, expect, it } from 'vitest';
import { IngestError } from './errors.js';
import { parsePayload } from './parsePayload.js';

const FORM = 'application/x-www-form-urlencoded';
const parse = (body: string, contentType: string | undefined = FORM, compression?: string) =>
  parsePayload(Buffer.from(body), { contentType, compression, maxDepth: 99 });

describe('parsePayload', () => {
  it("reads JSON sent with curl -d's default form content type", () => {
    expect(parse('[{"event":"hello","distinct_id":"me"}]')).toEqual([{ event: 'hello', distinct_id: 'me' }]);
    expect(parse('  \n{"batch":[],"api_key":"k&x=1"}')).toEqual({ batch: [], api_key: 'k&x=1' });
    expect(parse('\ufeff[1]', `${FORM}; charset=utf-8`)).toEqual([1]);
  });

  it('still reads posthog-js beacon forms, and names a form without data', () => {
    const data = Buffer.from('[{"event":"e"}]').toString('base64');
    expect(parse(`data=${encodeURIComponent(data)}&compression=base64`)).toEqual([{ event: 'e' }]);
    expect(parse(`data=${encodeURIComponent('[{"event":"e"}]')}`)).toEqual([{ event: 'e' }]);
    expect(parse(`data=${encodeURIComponent(data)}`, 'text/plain')).toEqual([{ event: 'e' }]);
    const err = (() => {
      try {
        parse('event=hello&distinct_id=me');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(IngestError);
    expect(err).toMatchObject({ kind: 'malformed', message: expect.stringMatching(/without a data field/) });
  });

  it('refuses malformed JSON in a form-typed body as malformed JSON', () => {
    expect(() => parse('[{"event":')).toThrow(/body is not valid JSON/);
  });

  it('names an empty body as empty, whatever its content type', () => {
    for (const type of [FORM, 'application/json', undefined]) {
      for (const body of ['', '  \n']) {
        expect(() => parse(body, type)).toThrow(/empty body; send a JSON batch/);
      }
    }
  });

  it('refuses bytes that are not UTF-8 when no other charset is named, in the body and in base64 data', () => {
    const latin1 = Buffer.from('[{"event":"caf\xe9","distinct_id":"latin"}]', 'latin1');
    for (const contentType of ['application/json', 'application/json; charset=utf-8', undefined]) {
      expect(() => parsePayload(latin1, { contentType, compression: undefined, maxDepth: 99 })).toThrow(
        expect.objectContaining({
          kind: 'malformed',
          message: expect.stringMatching(/^body is not valid UTF-8; send UTF-8/),
        }),
      );
    }
    const overlong = Buffer.from([0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]); // ["\xc0\xaf"]: an overlong "/"
    expect(() =>
      parsePayload(overlong, { contentType: 'application/json', compression: undefined, maxDepth: 99 }),
    ).toThrow(/not valid UTF-8/);
    const data = `data=${encodeURIComponent(latin1.toString('base64'))}`;
    expect(() => parse(data)).toThrow(/^data is not valid UTF-8/);
    // UTF-8 itself, multi-byte characters included, reads as before.
    expect(parse('[{"event":"café 😀"}]', 'application/json')).toEqual([{ event: 'café 😀' }]);
  });

  it('decodes the charset the content type names, and refuses one it does not know with 415', () => {
    const latin1 = Buffer.from('[{"event":"caf\xe9"}]', 'latin1');
    const json = 'application/json; charset=';
    expect(
      parsePayload(latin1, { contentType: `${json}iso-8859-1`, compression: undefined, maxDepth: 99 }),
    ).toEqual([{ event: 'café' }]);
    expect(
      parsePayload(latin1, { contentType: `${json}"ISO-8859-1"`, compression: undefined, maxDepth: 99 }),
    ).toEqual([{ event: 'café' }]);
    const utf16 = Buffer.from('\ufeff[{"event":"ü"}]', 'utf16le');
    expect(
      parsePayload(utf16, { contentType: `${json}utf-16`, compression: undefined, maxDepth: 99 }),
    ).toEqual([{ event: 'ü' }]);
    expect(
      parsePayload(Buffer.from('[{"event":"ü"}]'), {
        contentType: `${json}UTF-8`,
        compression: undefined,
        maxDepth: 99,
      }),
    ).toEqual([{ event: 'ü' }]);
    expect(() =>
      parsePayload(latin1, { contentType: `${json}klingon`, compression: undefined, maxDepth: 99 }),
    ).toThrow(
      expect.objectContaining({
        kind: 'unsupported-encoding',
        message: 'unsupported charset "klingon"; send UTF-8',
      }),
    );
  });

  it('refuses JSON nested deeper than maxDepth before parsing it, in a beacon form too', () => {
    const deep = `[{"uuid":${'['.repeat(100_000)}${']'.repeat(100_000)}}]`;
    const refused = expect.objectContaining({
      kind: 'malformed',
      message: 'JSON nested deeper than 99 levels',
    });
    expect(() => parse(deep, 'application/json')).toThrow(refused);
    const data = Buffer.from(deep).toString('base64');
    expect(() => parse(`data=${encodeURIComponent(data)}&compression=base64`)).toThrow(refused);
    expect(parse(`${'['.repeat(99)}${']'.repeat(99)}`, 'application/json')).toHaveLength(1);
  });
});
