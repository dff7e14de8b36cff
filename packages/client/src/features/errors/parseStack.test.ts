import { describe, expect, it } from 'vitest';
import { parseStack } from './parseStack.js';
import type { StackFrame } from './types.js';

type Row = [string, Partial<StackFrame>];

const f = (
  fn: string | null,
  file: string | null,
  line: number | null,
  column: number | null,
  inApp: boolean,
): Partial<StackFrame> => ({ function: fn, file, line, column, inApp });

describe('parseStack: Node (V8)', () => {
  const stack = [
    "TypeError: Cannot read properties of undefined (reading 'id')",
    '    at Object.<anonymous> (/srv/app/src/index.js:12:9)',
    '    at new Session (file:///srv/app/src/session.mjs:40:11)',
    '    at async Promise.all (index 0)',
    '    at async main (file:///srv/app/src/main.mjs:7:3)',
    '    at Array.map (<anonymous>)',
    '    at eval (eval at compile (/srv/app/src/tpl.js:3:10), <anonymous>:1:5)',
    '    at /srv/app/src/anon.js:5:1',
    '    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)',
    '    at Module._compile (node:internal/modules/cjs/loader:1358:14)',
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    '    at C:\\Users\\dev\\app\\win.js:1:2',
    '    at run (webpack-internal:///./src/run.ts:20:7)',
    '    at Foo.[Symbol.iterator] (/srv/app/src/iter.js:2:3)',
  ].join('\n');
  const rows: Row[] = [
    ['Object.<anonymous>', f('Object.<anonymous>', '/srv/app/src/index.js', 12, 9, true)],
    ['new', f('new Session', 'file:///srv/app/src/session.mjs', 40, 11, true)],
    ['async builtin', f('Promise.all', 'native', null, null, false)],
    ['async', f('main', 'file:///srv/app/src/main.mjs', 7, 3, true)],
    ['native', f('Array.map', '<anonymous>', null, null, false)],
    ['eval', f('eval', '/srv/app/src/tpl.js', 3, 10, true)],
    ['anonymous', f(null, '/srv/app/src/anon.js', 5, 1, true)],
    [
      'alias, node_modules',
      f(
        'Layer.handle [as handle_request]',
        '/srv/app/node_modules/express/lib/router/layer.js',
        95,
        5,
        false,
      ),
    ],
    ['node:internal', f('Module._compile', 'node:internal/modules/cjs/loader', 1358, 14, false)],
    [
      'node:internal 2',
      f('process.processTicksAndRejections', 'node:internal/process/task_queues', 95, 5, false),
    ],
    ['windows path', f(null, 'C:\\Users\\dev\\app\\win.js', 1, 2, true)],
    ['webpack', f('run', 'webpack-internal:///./src/run.ts', 20, 7, true)],
    ['symbol name', f('Foo.[Symbol.iterator]', '/srv/app/src/iter.js', 2, 3, true)],
  ];
  const frames = parseStack(stack);
  it('finds every frame and nothing of the message', () => expect(frames).toHaveLength(rows.length));
  rows.forEach(([name, want], i) => it(name, () => expect(frames[i]).toEqual(want)));
});

describe('parseStack: Chrome (V8)', () => {
  const stack = [
    'Error: failed at https://x.test/a.js:1:2 for user@example.com',
    'second line of the message @ 3:4',
    '    at HTMLButtonElement.onClick (https://shop.test/assets/app.4f2a.js:1:52311)',
    '    at https://shop.test/assets/app.4f2a.js:2:100',
    '    at eval (eval at <anonymous> (https://shop.test/assets/app.4f2a.js:5:10), <anonymous>:1:1)',
    '    at eval (eval at a (eval at b (https://shop.test/e.js:9:8)), <anonymous>:1:1)',
    '    at Render (webpack:///./src/components/Cart.tsx?:14:11)',
    '    at chrome-extension://abcdef/content.js:10:1',
    '    at async Promise.any (index 2)',
    '    at <anonymous>',
  ].join('\n');
  const rows: Row[] = [
    ['method', f('HTMLButtonElement.onClick', 'https://shop.test/assets/app.4f2a.js', 1, 52311, true)],
    ['anonymous url', f(null, 'https://shop.test/assets/app.4f2a.js', 2, 100, true)],
    ['eval of anonymous', f('eval', 'https://shop.test/assets/app.4f2a.js', 5, 10, true)],
    ['nested eval', f('eval', 'https://shop.test/e.js', 9, 8, true)],
    ['webpack://', f('Render', 'webpack:///./src/components/Cart.tsx?', 14, 11, true)],
    ['extension', f(null, 'chrome-extension://abcdef/content.js', 10, 1, false)],
    ['async builtin', f('Promise.any', 'native', null, null, false)],
    ['bare anonymous', f(null, '<anonymous>', null, null, false)],
  ];
  const frames = parseStack(stack);
  it('ignores message lines even when they look like frames', () => expect(frames).toHaveLength(rows.length));
  rows.forEach(([name, want], i) => it(name, () => expect(frames[i]).toEqual(want)));
});

describe('parseStack: Firefox', () => {
  const stack = [
    'onClick@https://shop.test/assets/app.js:10:15',
    'Cart/<@https://shop.test/assets/app.js:20:3',
    '@https://shop.test/assets/app.js:1:1',
    'async*load@https://shop.test/assets/app.js:30:9',
    'promise callback*init@https://shop.test/assets/app.js:31:1',
    'compile@https://shop.test/assets/app.js line 44 > eval:1:5',
    'fn@https://shop.test/assets/app.js line 45 > Function:2:1',
    'read@file:///home/dev/app/index.html:3:7',
    'handler@moz-extension://1234/bg.js:2:2',
    '',
  ].join('\n');
  const rows: Row[] = [
    ['named', f('onClick', 'https://shop.test/assets/app.js', 10, 15, true)],
    ['inner closure', f('Cart/<', 'https://shop.test/assets/app.js', 20, 3, true)],
    ['anonymous', f(null, 'https://shop.test/assets/app.js', 1, 1, true)],
    ['async', f('load', 'https://shop.test/assets/app.js', 30, 9, true)],
    ['promise callback', f('init', 'https://shop.test/assets/app.js', 31, 1, true)],
    ['eval', f('compile', 'https://shop.test/assets/app.js', 44, null, true)],
    ['Function()', f('fn', 'https://shop.test/assets/app.js', 45, null, true)],
    ['file://', f('read', 'file:///home/dev/app/index.html', 3, 7, true)],
    ['extension', f('handler', 'moz-extension://1234/bg.js', 2, 2, false)],
  ];
  const frames = parseStack(stack);
  it('finds every frame', () => expect(frames).toHaveLength(rows.length));
  rows.forEach(([name, want], i) => it(name, () => expect(frames[i]).toEqual(want)));
});

describe('parseStack: Safari', () => {
  const stack = [
    'onClick@https://shop.test/assets/app.js:10:15',
    'forEach@[native code]',
    'eval code',
    'eval@[native code]',
    'global code@https://shop.test/index.html:5:3',
    'module code@https://shop.test/assets/main.js:1:8',
    '@https://shop.test/assets/app.js:2:4',
    'https://shop.test/assets/old.js:7:9',
    'promiseReactionJob@[native code]',
  ].join('\n');
  const rows: Row[] = [
    ['named', f('onClick', 'https://shop.test/assets/app.js', 10, 15, true)],
    ['native', f('forEach', '[native code]', null, null, false)],
    ['eval code', f('eval code', null, null, null, false)],
    ['native eval', f('eval', '[native code]', null, null, false)],
    ['global code', f('global code', 'https://shop.test/index.html', 5, 3, true)],
    ['module code', f('module code', 'https://shop.test/assets/main.js', 1, 8, true)],
    ['anonymous', f(null, 'https://shop.test/assets/app.js', 2, 4, true)],
    ['bare location', f(null, 'https://shop.test/assets/old.js', 7, 9, true)],
    ['promise job', f('promiseReactionJob', '[native code]', null, null, false)],
  ];
  const frames = parseStack(stack);
  it('finds every frame', () => expect(frames).toHaveLength(rows.length));
  rows.forEach(([name, want], i) => it(name, () => expect(frames[i]).toEqual(want)));
});

describe('parseStack: real errors and bad input', () => {
  it('parses a stack this runtime made, top frame in this file', () => {
    const frames = parseStack(new Error('here').stack!);
    expect(frames.length).toBeGreaterThan(1);
    expect(frames[0]!.file).toContain('parseStack.test.ts');
    expect(frames[0]!.line).toBeGreaterThan(0);
    expect(frames[0]!.inApp).toBe(true);
  });

  it('returns no frames for empty, non-string or frameless input', () => {
    expect(parseStack('')).toEqual([]);
    expect(parseStack(42 as unknown as string)).toEqual([]);
    expect(parseStack('Error: just a message\nwith two lines')).toEqual([]);
  });

  it('keeps at most maxFrames, innermost first', () => {
    const stack = [
      'Error: deep',
      ...Array.from({ length: 500 }, (_, i) => `    at f${i} (/app/x.js:${i + 1}:1)`),
    ].join('\n');
    const frames = parseStack(stack, { maxFrames: 20, maxLineLength: 2048 });
    expect(frames).toHaveLength(20);
    expect(frames[0]!.function).toBe('f0');
    expect(frames[19]!.function).toBe('f19');
  });

  it('skips absurdly long lines and stays fast on hostile ones', () => {
    const hostile = `    at ${'('.repeat(50_000)}x (${'a:'.repeat(50_000)}1:1)`;
    const stack = `Error: x\n${hostile}\n    at ok (/app/ok.js:1:1)`;
    expect(parseStack(stack)).toEqual([f('ok', '/app/ok.js', 1, 1, true)]);
    const frames = parseStack(stack, { maxFrames: 5, maxLineLength: 1_000_000 });
    expect(frames.at(-1)).toEqual(f('ok', '/app/ok.js', 1, 1, true));
  });
});
