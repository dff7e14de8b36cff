import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyedHash } from './redactHash.js';
import { createPatternRedactor, PatternRedactionOptionError, PII_PATTERN_NAMES } from './redactPatterns.js';

describe('createPatternRedactor: walking values', () => {
  const redact = createPatternRedactor();

  it('redacts strings nested in objects and arrays, and leaves other values alone', () => {
    const input = {
      event: 'signup',
      user: { contact: ['jane@example.com', { phone: '+1 415 555 1234' }], age: 42, ok: true, none: null },
      tags: ['a', 'b'],
    };
    expect(redact(input)).toEqual({
      event: 'signup',
      user: { contact: ['[REDACTED]', { phone: '[REDACTED]' }], age: 42, ok: true, none: null },
      tags: ['a', 'b'],
    });
  });

  it('copies on write: the input is never modified and clean parts are shared', () => {
    const clean = { version: '1.2.3', list: [1, 2, 3] };
    const input = { clean, dirty: { email: 'jane@example.com' } };
    const out = redact(input) as typeof input;
    expect(input.dirty.email).toBe('jane@example.com');
    expect(out).not.toBe(input);
    expect(out.clean).toBe(clean);
    expect(out.dirty).not.toBe(input.dirty);
    const allClean = { a: 'x', b: ['1.2.3', 4], c: { d: '2026-12-02T11:19:32Z' } };
    expect(redact(allClean)).toBe(allClean);
  });

  it('takes top-level strings and primitives', () => {
    expect(redact('mail jane@example.com')).toBe('mail [REDACTED]');
    expect(redact(12)).toBe(12);
    expect(redact(undefined)).toBeUndefined();
    expect(redact(null)).toBeNull();
    expect(redact(10n)).toBe(10n);
  });

  it('survives cycles, deep nesting, throwing getters and non-plain objects without throwing', () => {
    const cyclic: Record<string, unknown> = { email: 'jane@example.com' };
    cyclic.self = cyclic;
    cyclic.list = [cyclic];
    expect(redact(cyclic)).toEqual({ email: '[REDACTED]', self: '[Circular]', list: ['[Circular]'] });

    let deep: unknown = 'jane@example.com';
    for (let i = 0; i < 100; i++) deep = { next: deep };
    let node = redact(deep) as { next: unknown };
    for (let i = 0; i < 31; i++) node = node.next as { next: unknown };
    expect(node.next).toBe('[Depth]');

    const getter = {
      get boom(): string {
        throw new Error('no');
      },
    };
    expect(redact({ a: getter, b: 'ok' })).toEqual({ a: '[REDACTED]', b: 'ok' });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    expect(redact({ p: proxy })).toEqual({ p: '[REDACTED]' });

    const date = new Date();
    const map = new Map([['k', 'jane@example.com']]);
    expect(redact({ date, map })).toEqual({ date, map });
  });

  it('cuts a string longer than maxStringLength before scanning, as safeClone does', () => {
    const r = createPatternRedactor({ maxStringLength: 20 });
    expect(r('x'.repeat(30))).toBe('x'.repeat(20) + '…[truncated]');
    expect(r('jane@example.com is here and more')).toBe('[REDACTED] is …[truncated]');
    // Cut once: the cut value is not cut again.
    expect(r(r('jane@example.com is here and more'))).toBe('[REDACTED] is …[truncated]');
    const safeCloned = 'y'.repeat(20) + '…[truncated]';
    expect(r(safeCloned)).toBe(safeCloned);
    expect(createPatternRedactor({ maxStringLength: 0 })('abc')).toBe('…[truncated]');
  });

  it('scans an adversarial 8 KB value fast enough to finish (linear patterns)', () => {
    const inputs = [
      'a'.repeat(8000) + '@',
      '1'.repeat(8191),
      '1 '.repeat(4000),
      ':'.repeat(8000),
      '1:'.repeat(4000),
      'a.'.repeat(4000) + '@',
      '+1'.repeat(4000),
      'eyJ.'.repeat(2000),
      'api_key='.repeat(1000),
      'Bearer '.repeat(1000),
      'a@b.'.repeat(2000),
    ];
    // No timing assert (the machine is shared): a quadratic or exponential pattern would
    // simply not finish within the test timeout.
    for (const s of inputs) expect(typeof redact(s)).toBe('string');
  });
});

describe('createPatternRedactor: key=value secrets in text under the names the field list has', () => {
  const redact = createPatternRedactor();

  it('redacts pwd, ssn, otp, mfa codes and cookies written as key=value or JSON in a string (a logged object, a console breadcrumb)', () => {
    expect(redact('MYSQL_PWD=hunter22 mysql -u app')).toBe('MYSQL_PWD=[REDACTED] mysql -u app');
    expect(redact('verify {"otp_code":"482913","ssn":"078051120","mfa_code":"123456"}')).toBe(
      'verify {"otp_code":"[REDACTED]","ssn":"[REDACTED]","mfa_code":"[REDACTED]"}',
    );
    expect(redact('otp: 482913')).toBe('otp: [REDACTED]');
    expect(redact('incoming {"cookie":"connect.sid=s%3AaBc123def456"}')).toBe(
      'incoming {"cookie":"[REDACTED]"}',
    );
    // What holds no secret stays.
    for (const kept of ['cookie: none', 'ssn: null', 'otp_enabled=true']) expect(redact(kept)).toBe(kept);
  });
});

describe('createPatternRedactor: options', () => {
  it('labels each replacement with its pattern', () => {
    const r = createPatternRedactor({ labels: true });
    expect(r('jane@example.com, 123-45-6789')).toBe('[REDACTED:email], [REDACTED:ssn]');
  });

  it('replaces with a stable keyed hash when asked', () => {
    const r = createPatternRedactor({ hashKey: 'k1' });
    const out = r('jane@example.com and jane@example.com');
    const h = keyedHash('jane@example.com', 'k1');
    expect(out).toBe(`${h} and ${h}`);
    expect(createPatternRedactor({ hashKey: 'k2' })('jane@example.com')).not.toBe(h);
  });

  it('turns built-in patterns off by name', () => {
    const r = createPatternRedactor({ patterns: { email: false, phone: false } });
    expect(r('jane@example.com +1 415 555 1234 123-45-6789')).toBe(
      'jane@example.com +1 415 555 1234 [REDACTED]',
    );
    const none = createPatternRedactor({
      patterns: Object.fromEntries(PII_PATTERN_NAMES.map((n) => [n, false])),
    });
    expect(none('jane@example.com')).toBe('jane@example.com');
  });

  it('takes the short form too, a pattern name beside the options (as the client README writes it)', () => {
    const short = createPatternRedactor({ email: false, phone: false, labels: true });
    expect(short('jane@example.com +1 415 555 1234 123-45-6789')).toBe(
      'jane@example.com +1 415 555 1234 [REDACTED:ssn]',
    );
    // Both forms at once add up; `true` changes nothing.
    const both = createPatternRedactor({ email: false, ssn: true, patterns: { phone: false, ssn: true } });
    expect(both('jane@example.com +1 415 555 1234 123-45-6789')).toBe(
      'jane@example.com +1 415 555 1234 [REDACTED]',
    );
  });

  it('runs custom patterns (global or not, named or not) after the built-in ones', () => {
    const r = createPatternRedactor({
      labels: true,
      custom: [/EMP-\d{6}/, { name: 'ticket', regex: /TCK_[A-Z]{4}/gi }],
    });
    expect(r('EMP-123456 and EMP-654321 filed tck_abcd')).toBe(
      '[REDACTED:custom] and [REDACTED:custom] filed [REDACTED:ticket]',
    );
    const sticky = /X\d/y;
    const r2 = createPatternRedactor({ custom: [sticky] });
    expect(r2('a X1 b X2')).toBe('a [REDACTED] b [REDACTED]');
    expect(sticky.lastIndex).toBe(0);
  });

  it('replaces what String.replace would, empty matches included (one pass of each regex)', () => {
    const cases: [RegExp, string][] = [
      // Matches empty at word boundaries, and `b`s there: empty matches replace nothing.
      [/\bb*/g, 'aab abbb ba a'],
      // With the u flag an empty match steps over a whole surrogate pair, as replace() does.
      [/\bx*/gu, 'a😀x 😀xx😀b😀'],
      [/\bx*/g, 'a😀x 😀xx😀b😀'],
      [/Q\d/g, 'Q1Q2 Q3'],
    ];
    for (const [regex, text] of cases) {
      const r = createPatternRedactor({
        patterns: Object.fromEntries(PII_PATTERN_NAMES.map((n) => [n, false])),
        custom: [regex],
        replacement: '#',
      });
      expect(r(text)).toBe(text.replace(new RegExp(regex.source, regex.flags), (m) => (m === '' ? m : '#')));
    }
    // Built-in patterns whose validator keeps some matches: the ones kept stay in place.
    expect(
      createPatternRedactor()('4111 1111 1111 1112 and 4111 1111 1111 1111 and 127.0.0.1 or 8.8.8.8'),
    ).toBe('4111 1111 1111 1112 and [REDACTED] and 127.0.0.1 or [REDACTED]');
  });

  it('runs a custom function last, with the key, and fails closed when it breaks', () => {
    const seen: (string | undefined)[] = [];
    const r = createPatternRedactor({
      redact: (v, key) => {
        seen.push(key);
        return v.replace(/secret-\w+/g, '[X]');
      },
    });
    expect(r({ note: 'secret-abc jane@example.com', list: ['secret-1'] })).toEqual({
      note: '[X] [REDACTED]',
      list: ['[X]'],
    });
    expect(seen).toEqual(['note', 'list']);
    const throwing = createPatternRedactor({
      redact: () => {
        throw new Error('bug');
      },
    });
    expect(throwing({ a: 'anything' })).toEqual({ a: '[REDACTED]' });
    const wrongType = createPatternRedactor({ redact: (() => 42) as unknown as () => string });
    expect(wrongType('x')).toBe('[REDACTED]');
  });

  it('rejects bad options with an error that names the option', () => {
    const bad: [unknown, string][] = [
      [null, 'options'],
      ['x', 'options'],
      [{ patterns: { nope: false } }, 'patterns.nope'],
      [{ patterns: { email: 'no' } }, 'patterns.email'],
      [{ patterns: 3 }, 'patterns'],
      [{ bogus: 1 }, 'bogus'],
      [{ email: 'no' }, 'email'],
      [{ email: null }, 'email'],
      [{ email: false, patterns: { email: true } }, 'patterns.email'],
      [{ maxStringLenght: 5 }, 'maxStringLenght'],
      [{ custom: /x/ }, 'custom'],
      [{ custom: ['x'] }, 'custom[0]'],
      [{ custom: [{ name: 'a b', regex: /x/ }] }, 'custom[0].name'],
      [{ custom: [{ name: 'ok', regex: 'x' }] }, 'custom[0].regex'],
      [{ custom: [/x*/] }, 'custom[0]'],
      [{ custom: [/(?:)/] }, 'custom[0]'],
      [{ custom: [/(a+)+b/] }, 'custom[0]'],
      [{ custom: [/x/, /([a-z]*)*$/] }, 'custom[1]'],
      [{ replacement: 5 }, 'replacement'],
      [{ replacement: 'mail jane@example.com' }, 'replacement'],
      [{ labels: 'yes' }, 'labels'],
      [{ labels: true, replacement: '[X]' }, 'labels'],
      [{ hashKey: '' }, 'hashKey'],
      [{ hashKey: 'k', labels: true }, 'hashKey'],
      [{ hashKey: 'k', replacement: '[X]' }, 'hashKey'],
      [{ redact: 'no' }, 'redact'],
      [{ maxStringLength: -1 }, 'maxStringLength'],
      [{ maxStringLength: 1.5 }, 'maxStringLength'],
      [{ maxStringLength: 1e12 }, 'maxStringLength'],
      [{ maxStringLength: Number.NaN }, 'maxStringLength'],
      [{ maxDepth: 0 }, 'maxDepth'],
      [{ maxDepth: Infinity }, 'maxDepth'],
    ];
    for (const [options, option] of bad) {
      let error: unknown;
      try {
        createPatternRedactor(options as never);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(PatternRedactionOptionError);
      expect((error as PatternRedactionOptionError).kind).toBe('redaction-option');
      expect((error as PatternRedactionOptionError).option).toBe(option);
    }
  });

  it('accepts 0-like and explicit defaults', () => {
    expect(() =>
      createPatternRedactor({ maxStringLength: 0, labels: false, patterns: { card: true } }),
    ).not.toThrow();
    expect(createPatternRedactor({ replacement: '' })('jane@example.com!')).toBe('!');
  });
});

describe('createPatternRedactor: properties', () => {
  const modes = [
    createPatternRedactor(),
    createPatternRedactor({ labels: true }),
    createPatternRedactor({ hashKey: 'key' }),
  ];

  // Strings built from PII-shaped pieces, not-PII pieces and noise, so the property is tried
  // on inputs where patterns actually fire.
  const piece = fc.constantFrom(
    'jane@example.com',
    '4111 1111 1111 1111',
    '4111111111111111',
    '378282246310005',
    '123-45-6789',
    '+1 (415) 555-1234',
    '203.0.113.42',
    '2001:db8::1',
    'Bearer abc123def456ghi789',
    'api_key=abcd1234',
    'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
    '1.2.3',
    '550e8400-e29b-41d4-a716-446655440000',
    '2026-12-02T11:19:32Z',
    'postgres://app:pw12@db:5432/x',
    'https://u:p@ss@example.com/',
    '?sig=abcdef0123456789abcdef',
    '&code=4/0AX4XfWh-authcode123',
    'https://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX',
    '/home/alice/x',
    'C:\\Users\\Jane Doe\\x',
    'GB82 WEST 1234 5698 7654 32',
    'pass=hunter22',
    '--password hunter22',
    'hw_4cN2k9dQ0vT7x1LmP8sR3uY6wZ5aB2eF',
    encodeURIComponent('/cb?token=hunter22&x=1'),
    '%3D',
    '%20',
    '%25',
    '\\"',
  );
  const mixed = fc
    .array(fc.oneof(piece, fc.string({ maxLength: 12 }), fc.constantFrom(' ', ', ', ':', '=', '@', '.')), {
      maxLength: 12,
    })
    .map((parts) => parts.join(''));

  it('is idempotent: redacting twice is redacting once', () => {
    fc.assert(
      fc.property(mixed, (s) => {
        for (const r of modes) {
          const once = r(s);
          expect(r(once)).toBe(once);
        }
      }),
      { numRuns: 1000 },
    );
    // Found by this property: a replacement changed the boundary a later match depended on.
    for (const r of modes) {
      const s = '+1 (415) 555-1234+1 (415) 555-12342001:db8::1';
      expect(r(r(s))).toBe(r(s));
    }
  });

  it('leaves strings without digits, @, :, =, _, - or a key prefix unchanged', () => {
    const safeChar = fc.constantFrom(
      ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,!?/()'.split(''),
    );
    fc.assert(
      fc.property(
        fc.array(safeChar, { maxLength: 80 }).map((a) => a.join('')),
        (s) => {
          fc.pre(!/bearer|AKIA|ASIA|AIza|SG\./i.test(s));
          for (const r of modes) expect(r(s)).toBe(s);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws and keeps the JSON shape of any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const out = modes[0]!(v);
        // An object's entries by the shapes of their values, not by their keys: a key that is
        // PII (an email used as one) is redacted too, by design (redactPatterns.keys.test.ts),
        // which a seed met once with { "0@0.AA": 0 }.
        const shape = (x: unknown): unknown =>
          Array.isArray(x)
            ? x.map(shape)
            : x !== null && typeof x === 'object'
              ? {
                  entries: Object.values(x)
                    .map((y) => JSON.stringify(shape(y)))
                    .sort(),
                }
              : typeof x;
        expect(shape(out)).toEqual(shape(v));
      }),
      { numRuns: 300 },
    );
  });

  it('never leaves a caught email behind, whatever surrounds it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), (a, b) => {
        const out = modes[0]!(`${a} jane.doe@example.com ${b}`) as string;
        expect(out).not.toContain('jane.doe@example.com');
      }),
      { numRuns: 300 },
    );
  });
});

describe('createPatternRedactor: "__proto__" keys', () => {
  it('writes a redacted value under an own "__proto__" key as a key, not as the prototype', () => {
    const redact = createPatternRedactor();
    const input = JSON.parse('{"__proto__":"mail jane@example.com","a":1}') as object;
    const out = redact(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(JSON.stringify(out)).toBe('{"__proto__":"mail [REDACTED]","a":1}');
    expect(JSON.stringify(input)).toBe('{"__proto__":"mail jane@example.com","a":1}');
  });
});

describe('createPatternRedactor: secrets written escaped', () => {
  const redact = createPatternRedactor();
  const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
  const HW = 'hw_mDibaPlxTpQbGel9XW6cKve85g4bzeKN';
  const inQuery = (inner: string) => `https://app.example.com/login?next=${encodeURIComponent(inner)}`;

  it.each([
    ['an API key', inQuery(`/settings?api_key=${HW}`), HW],
    ['a JWT', inQuery(`/cb?id_token=${JWT}`), JWT.slice(0, 30)],
    ['a password parameter', inQuery('/cb?password=hunter2secret'), 'hunter2secret'],
    ['a URL password', inQuery('https://u:hunter2secret@h/'), 'hunter2secret'],
    ['a Stripe key', inQuery('/cb?key=sk_live_51H8abcdefghijklmnopqrstuv'), 'sk_live_51H8'],
    [
      'a bearer token in JSON',
      inQuery(JSON.stringify({ authorization: 'Bearer abcdefghijklmnop123' })),
      'abcdefghijklmnop123',
    ],
    ['a key encoded twice', inQuery(inQuery(`/s?api_key=${HW}`)), HW],
    [
      'JSON escaped in a string',
      JSON.stringify(JSON.stringify({ password: 'hunter2secret' })),
      'hunter2secret',
    ],
  ])('finds %s in a URL query or escaped JSON, and the value reads unescaped', (_, value, secret) => {
    const out = redact(value) as string;
    expect(out).toContain('[REDACTED]');
    expect(out).not.toContain(secret);
    expect(out).not.toContain(encodeURIComponent(secret));
    expect(redact(out)).toBe(out);
  });

  it('leaves escaped text that holds no secret as it was written', () => {
    for (const value of [
      inQuery('/settings?tab=billing&page=2'),
      'https://example.com/search?q=caf%C3%A9%20au%20lait&sort=asc',
      JSON.stringify(JSON.stringify({ plan: 'pro', seats: 3 })),
      '100%25 done, 50%off',
    ])
      expect(redact(value)).toBe(value);
  });

  it('undoes a few levels of escaping, not one per level the text allows: a long run of %25 is kept as it is, key or value', () => {
    // `%252525…` unescapes one level a pass: looked at level after level (recursively), a
    // 24 KB key overflowed the stack and the whole object was replaced.
    const deep = `a%${'25'.repeat(12_000)}`;
    const out = redact({ [deep]: 1, v: `https://a.example/?r=%${'25'.repeat(3_000)}` }) as Record<
      string,
      unknown
    >;
    expect(Object.keys(out)).toEqual([deep, 'v']);
    expect(out.v).toBe(`https://a.example/?r=%${'25'.repeat(3_000)}`);
    // Three levels are looked at: a key encoded three times is found.
    const thrice = encodeURIComponent(encodeURIComponent(inQuery(`/s?api_key=${HW}`)));
    expect(redact(thrice)).not.toContain(HW.slice(3));
  });

  it('keeps the rest of the URL readable where it redacts', () => {
    expect(redact(inQuery(`/settings?api_key=${HW}&tab=2`))).toBe(
      'https://app.example.com/login?next=/settings?api_key=[REDACTED]&tab=2',
    );
  });
});
