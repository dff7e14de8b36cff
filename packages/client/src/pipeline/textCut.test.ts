import { describe, expect, it } from 'vitest';
import { capturingClient } from '../telemetry/telemetry.test-helpers.js';
import { distinctIdProblem } from '../telemetry/distinctIdProblem.js';
import { checkEventName, MAX_EVENT_NAME_LENGTH } from './eventName.js';
import { cutClear, cutText, hasNulOrLoneSurrogate, wellFormedText } from './textCut.js';

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('cutting and mending text', () => {
  it('cutText never ends between the two halves of a surrogate pair', () => {
    expect(cutText('ab👍c', 3)).toBe('ab');
    expect(cutText('ab👍c', 4)).toBe('ab👍');
    expect(cutText('abc', 5)).toBe('abc');
    expect(cutText('👍', 1)).toBe('');
    expect(cutText('abc', 0)).toBe('');
  });

  it('wellFormedText replaces NUL and unpaired surrogates, and keeps pairs', () => {
    expect(wellFormedText('a\u0000b')).toBe('a\ufffdb');
    expect(wellFormedText('x\ud83d')).toBe('x\ufffd');
    expect(wellFormedText('\ude00y')).toBe('\ufffdy');
    expect(wellFormedText('\ude00\ud83d')).toBe('\ufffd\ufffd');
    expect(wellFormedText('ok 😀 ok')).toBe('ok 😀 ok');
    expect(hasNulOrLoneSurrogate('ok 😀')).toBe(false);
    expect(hasNulOrLoneSurrogate('ok \ud83d')).toBe(true);
    expect(hasNulOrLoneSurrogate('\u0000')).toBe(true);
  });

  it('event names: an emoji at the length limit is not halved; NUL and halves are mended, counted as fixed', () => {
    const name = 'a'.repeat(MAX_EVENT_NAME_LENGTH - 1) + '👍' + 'tail';
    const cut = checkEventName(name);
    expect(cut).toEqual({ ok: true, name: 'a'.repeat(MAX_EVENT_NAME_LENGTH - 1), fixed: true });
    expect(checkEventName('file\u0000name')).toEqual({ ok: true, name: 'file\ufffdname', fixed: true });
    expect(checkEventName('half \udc00')).toEqual({ ok: true, name: 'half \ufffd', fixed: true });
    expect(checkEventName('fine 😀')).toEqual({ ok: true, name: 'fine 😀', fixed: false });
  });

  it('a distinct id with NUL or half an emoji is refused, as the server would refuse every event of it', () => {
    expect(distinctIdProblem('user\u0000')).toMatch(/without NUL or unpaired surrogates/);
    expect(distinctIdProblem('user \ud83d')).toMatch(/without NUL or unpaired surrogates/);
    expect(distinctIdProblem('user 😀')).toBeUndefined();
  });

  it('through track(): names and long strings cut between characters, nothing unpaired reaches a destination', async () => {
    const { client, received } = capturingClient();
    client.track('a'.repeat(MAX_EVENT_NAME_LENGTH - 1) + '👍' + 'tail');
    client.track('cut', { s: 'x'.repeat(8191) + '👍' + 'tail', long: '😀'.repeat(5000) });
    client.track('nul\u0000name');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    expect(received.map((e) => e.event)).toEqual([
      'a'.repeat(MAX_EVENT_NAME_LENGTH - 1),
      'cut',
      'nul\ufffdname',
    ]);
    for (const e of received) {
      expect(LONE.test(e.event)).toBe(false);
      for (const v of Object.values(e.properties))
        if (typeof v === 'string') expect(LONE.test(v)).toBe(false);
    }
    expect(String(received[1]!.properties.s)).toMatch(/x…\[truncated\]$/);
    expect(String(received[1]!.properties.long).endsWith('😀…[truncated]')).toBe(true);
  });
});

describe('cutClear: a cut leaves no partial secret for redaction to miss', () => {
  it('drops the word the cut went through, the groups of a spaced number before it, and a PEM block that lost its end', () => {
    expect(cutClear('reach john.smith@example.com', 20)).toBe('reach ');
    expect(cutClear('card 4111 1111 1111 1111 ok', 20)).toBe('card ');
    expect(cutClear('iban DE89 3704 0044 0532 0130 00', 23)).toBe('iban ');
    expect(cutClear('shipped to 5 stores', 16)).toBe('shipped to ');
    const pem =
      'key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----';
    expect(cutClear(pem, 60)).toBe('key: ');
    // A cut at the end of a word keeps it; a text of one long word is cut, not emptied.
    expect(cutClear('hello world again', 11)).toBe('hello world');
    expect(cutClear('a'.repeat(300), 200)).toBe('a'.repeat(200));
    expect(cutClear('1 2 3 4 5 6 7 8 9 10 11 12 13', 10)).toBe('1 2 3 4 5 ');
    expect(cutClear('short', 10)).toBe('short');
  });

  it('through the client: a property, an event name and an error message cut at their limits keep no part of the email at the cut', async () => {
    const { client, received } = capturingClient({ errors: { captureUnhandled: false } });
    const email = 'john.smith@example.com';
    client.track('e', {
      note: `${'x'.repeat(8176)} ${email}`,
      card: `${'y'.repeat(8180)} 4111 1111 1111 1111`,
    });
    client.track(`signup by ${'x'.repeat(174)} ${email}`);
    client.captureError(new Error(`${'m'.repeat(2030)} ${email}`));
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    const wire = JSON.stringify(received);
    expect(wire).not.toMatch(/john\.smith|@exam|4111 1111/);
    expect(received[0]!.properties.note).toMatch(/^x{8176} …\[truncated\]$/);
    expect(received[1]!.event).toMatch(/^signup by x{174}$/);
  });
});
