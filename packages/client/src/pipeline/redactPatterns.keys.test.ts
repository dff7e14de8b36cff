import { describe, expect, it } from 'vitest';
import { createPatternRedactor } from './redactPatterns.js';

describe('createPatternRedactor: property names', () => {
  const redact = createPatternRedactor();

  it('replaces the PII in a key (an email or an IP address used as one), nested too', () => {
    const input = {
      counts: { 'alice@example.com': 3, '10.1.2.3': 1, ok: 2 },
      list: [{ 'by bob@x.io': true }],
    };
    expect(redact(input)).toEqual({
      counts: { '[REDACTED]': 3, '[REDACTED]#2': 1, ok: 2 },
      list: [{ 'by [REDACTED]': true }],
    });
    // Copy on write: the input is as it was.
    expect(Object.keys(input.counts)).toEqual(['alice@example.com', '10.1.2.3', 'ok']);
  });

  it('keeps every entry when redacted keys meet each other or a key already there', () => {
    const out = redact({ 'a@b.io': 1, '[REDACTED]': 2, 'c@d.io': 3, '[REDACTED]#2': 4 }) as Record<
      string,
      number
    >;
    expect(out).toEqual({ '[REDACTED]': 2, '[REDACTED]#2': 4, '[REDACTED]#3': 1, '[REDACTED]#4': 3 });
    // Redacting twice is redacting once.
    expect(redact(out)).toBe(out);
  });

  it('redacts keys and values of the same object, with labels and hashes too', () => {
    expect(createPatternRedactor({ labels: true })({ 'ann@x.org': 'call +44 7911 123456' })).toEqual({
      '[REDACTED:email]': 'call [REDACTED:phone]',
    });
    const hashed = createPatternRedactor({ hashKey: 'k' })({ 'ann@x.org': 1, 'bob@x.org': 2 }) as object;
    expect(Object.keys(hashed)).toHaveLength(2);
    expect(Object.keys(hashed).every((k) => /^\[HASH:[0-9a-f]{16}\]$/.test(k))).toBe(true);
  });

  it('keeps clean keys as they are, the same object returned, however often the shape comes back', () => {
    for (let i = 0; i < 3; i++) {
      const clean = { path: '/x', durationMs: 1, $session_id: 's', nested: { width: 1 } };
      expect(redact(clean)).toBe(clean);
      const dirty = { path: '/x', durationMs: 1, $session_id: 's', nested: { 'x@y.io': 1 } };
      expect(redact(dirty)).toEqual({ ...dirty, nested: { '[REDACTED]': 1 } });
    }
  });

  it('isClean answers for a key as for a value; redactName leaves the app function out', () => {
    expect(redact.isClean('durationMs')).toBe(true);
    expect(redact.isClean('alice@example.com')).toBe(false);
    const withFn = createPatternRedactor({ redact: () => 'changed' });
    expect(withFn.redactName('user bob@example.com signed up')).toBe('user [REDACTED] signed up');
    expect(withFn.redactName('signup')).toBe('signup');
  });
});
