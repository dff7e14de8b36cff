import { describe, expect, it } from 'vitest';
import { normalizeMessage } from './normalizeMessage.js';

describe('normalizeMessage', () => {
  const same: [string, string, string][] = [
    ['numbers', 'User 42 not found', 'User 97 not found'],
    ['decimals and negatives', 'balance -12.5 below limit 3e5', 'balance -7.25 below limit 4e2'],
    [
      'uuids',
      'order 3f2b8c1e-9d4a-4e7b-8c2d-1a2b3c4d5e6f failed',
      'order 0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d failed',
    ],
    ['hex ids', 'document 507f1f77bcf86cd799439011 missing', 'document 61a8c2e4f0b3d91a2c4e6f80 missing'],
    ['0x hex', 'bad pointer 0x7ffe12ab', 'bad pointer 0xdeadbeef'],
    [
      'single quotes',
      "Cannot read properties of undefined (reading 'id')",
      "Cannot read properties of undefined (reading 'name')",
    ],
    ['double quotes', 'Unknown column "created_at"', 'Unknown column "email"'],
    ['backticks', 'Missing template `header`', 'Missing template `footer`'],
    [
      'unix paths',
      'ENOENT: no such file or directory, open /home/ann/.cache/a.json',
      'ENOENT: no such file or directory, open /home/bob/.cache/b.json',
    ],
    ['windows paths', 'cannot open C:\\Users\\ann\\a.txt', 'cannot open D:\\data\\b.txt'],
    ['emails', 'no account for ann@example.com', 'no account for bob.smith+x@mail.example.org'],
    ['urls', 'GET https://api.test/v1/users/42?x=1 failed', 'GET http://localhost:8080/v1/orders failed'],
    ['whitespace', 'a  b\n c', 'a b c'],
    ['numbers with a unit', 'Timed out after 35ms', 'Timed out after 120ms'],
    ['sizes', 'payload of 10MB over the 8.5MB limit', 'payload of 12MB over the 2MB limit'],
    ['ids after an underscore', 'user_42 not found', 'user_97 not found'],
    ['hex ids after an underscore', 'req_507f1f77bcf86cd7 failed', 'req_61a8c2e4f0b3d91a failed'],
    [
      'ISO timestamps',
      'token expired at 2024-01-02T03:04:05.123Z',
      'token expired at 2025-06-07T08:09:10.456Z',
    ],
    ['ISO timestamps with an offset', 'due 2024-01-02T03:04:05+02:00', 'due 2025-11-30T23:59:00-05:00'],
    ['ISO dates', 'no rate for 2024-01-02', 'no rate for 2025-12-31'],
  ];
  it.each(same)('groups messages differing only in %s', (_name, a, b) => {
    expect(normalizeMessage(a)).toBe(normalizeMessage(b));
  });

  const different: [string, string][] = [
    ['User not found', 'Order not found'],
    ["Cannot read properties of undefined (reading 'id')", "Cannot read properties of null (reading 'id')"],
    ['timeout after 30 ms', 'timeout before 30 ms'],
    ['ECONNREFUSED', 'ECONNRESET'],
    ['Timed out after 35ms', 'Timed out after 35s'],
    ['user_42 not found', 'order_42 not found'],
    ['token expired at 2024-01-02T03:04:05Z', 'token issued at 2024-01-02T03:04:05Z'],
    ['base64 decode failed', 'base32 decode failed'],
    ['HTTP2 stream reset', 'HTTP1 stream reset'],
  ];
  it.each(different)('keeps "%s" and "%s" apart', (a, b) => {
    expect(normalizeMessage(a)).not.toBe(normalizeMessage(b));
  });

  it('shows what it replaced', () => {
    expect(normalizeMessage("User 42 (ann@example.com) 'x' at /srv/app/a.js")).toBe(
      'User <num> (<email>) <str> at <path>',
    );
    expect(normalizeMessage('GET https://api.test/a?b=1 -> 500')).toBe('GET <url> -> <num>');
    expect(normalizeMessage('user_42 timed out after 35ms at 2024-01-02T03:04:05.123Z')).toBe(
      'user_<num> timed out after <num>ms at <time>',
    );
  });

  it('keeps words that merely contain digits or letters a-f', () => {
    expect(normalizeMessage('base64 decode failed in facade')).toBe('base64 decode failed in facade');
  });

  it('looks at a bounded prefix of huge messages, quickly', () => {
    const huge = `${'x'.repeat(10)} ${'1 '.repeat(1_000_000)}`;
    const out = normalizeMessage(huge);
    expect(out.length).toBeLessThan(3000);
    expect(normalizeMessage(`${'a'.repeat(1000)}tail 1`)).toBe(normalizeMessage(`${'a'.repeat(1000)}tail 2`));
    expect(normalizeMessage("'".repeat(100_000))).toBeTypeOf('string');
  });
});
