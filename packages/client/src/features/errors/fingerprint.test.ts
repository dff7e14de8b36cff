import { describe, expect, it } from 'vitest';
import { describeError, type DescribeLimits } from './describeError.js';
import { computeFingerprint, customFingerprint } from './fingerprint.js';

const limits: DescribeLimits = {
  maxMessageLength: 2048,
  maxStackLength: 65_536,
  maxFrames: 50,
  maxCauseDepth: 5,
  maxExceptions: 10,
};
const fp = (e: unknown) => computeFingerprint(describeError(e, limits)[0]!, 3);

function withStack(type: string, message: string, frames: string[]): Error {
  const e = new Error(message);
  e.name = type;
  e.stack = `${type}: ${message}\n${frames.map((f) => `    at ${f}`).join('\n')}`;
  return e;
}

describe('computeFingerprint', () => {
  const lib = 'parse (/srv/app/node_modules/lib/index.js:10:5)';
  it('is 16 hex digits', () => expect(fp(new Error('x'))).toMatch(/^[0-9a-f]{16}$/));

  it('groups the same bug across ids, machines and library lines', () => {
    const a = withStack('NotFound', 'user 42 not found', [lib, 'load (/home/ann/app/src/users.js:20:3)']);
    const b = withStack('NotFound', 'user 97 not found', [
      'parse (/srv/app/node_modules/lib/index.js:11:9)',
      'load (/opt/deploy/app/src/users.js:20:7)',
    ]);
    expect(fp(a)).toBe(fp(b));
  });

  it('keeps different bugs apart: type, message, function, file and line', () => {
    const base = withStack('NotFound', 'user 42 not found', ['load (/app/src/users.js:20:3)']);
    const variants = [
      withStack('Forbidden', 'user 42 not found', ['load (/app/src/users.js:20:3)']),
      withStack('NotFound', 'order 42 not found', ['load (/app/src/users.js:20:3)']),
      withStack('NotFound', 'user 42 not found', ['save (/app/src/users.js:20:3)']),
      withStack('NotFound', 'user 42 not found', ['load (/app/src/orders.js:20:3)']),
      withStack('NotFound', 'user 42 not found', ['load (/app/src/users.js:31:3)']),
    ];
    const all = new Set([base, ...variants].map(fp));
    expect(all.size).toBe(6);
  });

  it('groups one bug across builds and page loads: content hashes and UUIDs in file names', () => {
    const pairs: [string, string][] = [
      [
        'render (https://shop.example.com/static/js/main.3f2a1b9c.js:2:1234)',
        'render (https://shop.example.com/static/js/main.7d8e9f01.js:2:1234)',
      ],
      [
        'load (https://shop.example.com/assets/chunk-5f2a9c1d.js:1:99)',
        'load (https://shop.example.com/assets/chunk-0b1c2d3e.js:1:99)',
      ],
      [
        // webpack [contenthash] (20 hex digits) before a second extension.
        'run (https://x.test/js/vendor.aa11bb22cc33dd44ee55.chunk.js:1:99)',
        'run (https://x.test/js/vendor.ff00ee11dd22cc33bb44.chunk.js:1:99)',
      ],
      [
        // Vite / Rollup: [name]-[hash].js, 8 characters of base64url.
        'mount (https://app.example.com/assets/index-BxK3f9_a.js:1:500)',
        'mount (https://app.example.com/assets/index-D4k-2Lqz.js:1:500)',
      ],
      [
        'work (blob:https://x.com/1f2e3d4c-aaaa-bbbb-cccc-123456789012:44:10)',
        'work (blob:https://x.com/99999999-aaaa-bbbb-cccc-000000000000:44:10)',
      ],
    ];
    for (const [a, b] of pairs) {
      expect(fp(withStack('TypeError', 'x', [a]))).toBe(fp(withStack('TypeError', 'x', [b])));
    }
  });

  it('keeps files apart that differ in more than a hash or UUID', () => {
    const frames = [
      'render (https://shop.example.com/static/js/main.3f2a1b9c.js:2:1234)',
      'render (https://shop.example.com/static/js/vendor.3f2a1b9c.js:2:1234)',
      'render (https://shop.example.com/static/js/main.3f2a1b9c.chunk.js:2:1234)',
      'render (https://shop.example.com/static/js/main.js:2:1234)',
      'render (https://shop.example.com/static/js/main.3f2a1b.js:2:1234)',
      'render (https://shop.example.com/static/js/main.3f2a1b9x.js:2:1234)',
      'render (https://shop.example.com/static/js/main.fixtures.js:2:1234)',
      'render (https://shop.example.com/assets/index-settings.js:2:1234)',
      'render (https://shop.example.com/assets/index-profiles.js:2:1234)',
      'render (https://shop.example.com/assets/vendor-BxK3f9_a.js:2:1234)',
      'render (/srv/app/src/database.js:2:1234)',
      'render (/srv/app/src/databases.js:2:1234)',
    ];
    const all = new Set(frames.map((f) => fp(withStack('TypeError', 'x', [f]))));
    expect(all.size).toBe(frames.length);
  });

  it('uses the top frames when none is in-app, and only type and message without frames', () => {
    const a = withStack('E', 'x', [lib]);
    const b = withStack('E', 'x', ['other (/srv/app/node_modules/lib/other.js:1:1)']);
    expect(fp(a)).not.toBe(fp(b));
    expect(fp('plain string 1')).toBe(fp('plain string 2'));
    expect(fp('plain string')).not.toBe(fp('other string'));
  });

  it('groups 100 000 errors of 50 distinct bugs into exactly 50 fingerprints', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const bug = i % 50;
      seen.add(
        fp(
          withStack('Error', `request ${i} failed for id ${(i * 7919).toString(16).padStart(8, 'a')}1`, [
            `handler${bug} (/app/src/routes/r${bug}.js:${10 + bug}:${i % 80})`,
          ]),
        ),
      );
    }
    expect(seen.size).toBe(50);
  });

  it('custom fingerprints group by their parts, apart from computed ones', () => {
    expect(customFingerprint(['checkout', 'stripe'])).toBe(customFingerprint(['checkout', 'stripe']));
    expect(customFingerprint('checkout')).not.toBe(customFingerprint('checkout2'));
    expect(customFingerprint(['a', 'b'])).toMatch(/^[0-9a-f]{16}$/);
  });
});
