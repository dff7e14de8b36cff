import { PassThrough } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IngestError } from './errors.js';
import { readBody } from './readBody.js';

const options = {
  contentEncoding: undefined,
  compression: undefined,
  contentLength: undefined,
  maxBytes: 1000,
};

describe('readBody', () => {
  it('refuses a stream destroyed before it is read as aborted, instead of waiting for its end', async () => {
    const stream = new PassThrough();
    stream.on('error', () => {});
    stream.destroy(new Error('aborted'));
    await new Promise((resolve) => setImmediate(resolve));
    const read = readBody(stream, options).then(
      () => 'read',
      (e: unknown) => (e instanceof IngestError ? e.kind : String(e)),
    );
    const waited = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 500));
    expect(await Promise.race([read, waited])).toBe('aborted');
  });

  it('reads a body that arrived whole', async () => {
    const stream = new PassThrough();
    stream.end('[1]');
    expect((await readBody(stream, options)).toString()).toBe('[1]');
  });

  const read = (body: Buffer, contentEncoding: string, maxBytes = 1000) => {
    const stream = new PassThrough();
    stream.end(body);
    // An encoding it does not take is thrown before it reads, as the parser's await takes it.
    return (async () => readBody(stream, { ...options, contentEncoding, maxBytes }))().then(
      (b) => b.toString(),
      (e: unknown) => (e instanceof IngestError ? e.kind : String(e)),
    );
  };

  it('undoes a list of codings, the last applied first; identity and empty entries do nothing', async () => {
    const json = Buffer.from('[{"event":"e"}]');
    expect(await read(gzipSync(gzipSync(json)), 'gzip, gzip')).toBe(json.toString());
    expect(await read(gzipSync(json), 'identity, gzip')).toBe(json.toString());
    expect(await read(gzipSync(json), 'gzip, identity')).toBe(json.toString());
    expect(await read(gzipSync(json), 'gzip,')).toBe(json.toString());
    expect(await read(gzipSync(deflateSync(json)), 'deflate, gzip')).toBe(json.toString());
    expect(await read(gzipSync(deflateSync(json)), 'gzip, deflate')).toBe('malformed');
    expect(await read(json, 'identity, identity')).toBe(json.toString());
    // br only on its own: its window (up to 16 MB) would be held by a tiny stalled body whose
    // output another coding turns into nothing, unseen by the in-flight budget.
    expect(await read(brotliCompressSync(json), 'br')).toBe(json.toString());
    expect(await read(brotliCompressSync(json), 'identity, br')).toBe(json.toString());
    expect(await read(gzipSync(brotliCompressSync(json)), 'br, gzip')).toBe('unsupported-encoding');
    expect(await read(brotliCompressSync(gzipSync(json)), 'gzip, br')).toBe('unsupported-encoding');
  });

  it('caps the body and what each coding passes to the next at maxBytes, and the number of codings', async () => {
    const zeros = Buffer.alloc(10_000_000);
    expect(await read(gzipSync(gzipSync(zeros)), 'gzip, gzip')).toBe('too-large');
    // Inside: a gzip stream far over the limit that inflates to almost nothing (empty blocks).
    const small = gzipSync(Buffer.from('[]'));
    const emptyBlock = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
    const padded = Buffer.concat([
      small.subarray(0, 10),
      ...Array(20_000).fill(emptyBlock),
      small.subarray(10),
    ]);
    expect(await read(padded, 'gzip', 200_000)).toBe('[]');
    expect(await read(gzipSync(padded), 'gzip, gzip', 50_000)).toBe('too-large');
    expect(
      await read(gzipSync(gzipSync(gzipSync(gzipSync(Buffer.from('[]'))))), 'gzip, gzip, gzip, gzip'),
    ).toBe('unsupported-encoding');
  });
});
