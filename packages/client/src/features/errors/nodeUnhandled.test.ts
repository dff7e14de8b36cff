import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { rejectionMode } from './nodeUnhandled.js';

/**
 * The crash contract, proved with real child processes: with Homing's tracker installed a
 * crash still happens with the same exit code and the same error on stderr, and the
 * `$exception` event was written before the process died. `bare` runs the same script
 * without a tracker.
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
// The TypeScript loader hooks the outbox's crash tests already use.
const register = here('../../outbox/file-log/__fixtures__/register-ts.mjs');
const child = here('./__fixtures__/crash-child.ts');
const dir = mkdtempSync(join(tmpdir(), 'homing-errors-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Mode = 'bare' | 'hold' | 'monitor' | 'two';
interface Run {
  code: number | null;
  stderr: string;
  lines: Record<string, unknown>[];
}

let n = 0;
function run(scenario: string, mode: Mode, nodeArgs: string[] = []): Promise<Run> {
  const out = join(dir, `${scenario}-${mode}-${n++}.jsonl`);
  const p = spawn(process.execPath, [...nodeArgs, '--import', register, child, scenario, out, mode], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (c: string) => (stderr += c));
  return new Promise((resolve) =>
    p.on('close', (code) => {
      const lines = existsSync(out)
        ? readFileSync(out, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [];
      resolve({ code, stderr, lines });
    }),
  );
}

/** Node's stderr after the "file:line / source / ^" header, which names where it was thrown last. */
const afterHeader = (stderr: string) => stderr.slice(stderr.indexOf('\n\n'));
const exceptionLines = (r: Run) => r.lines.filter((l) => l['event'] === '$exception');

// Each child transpiles the sources on start (seconds on a loaded machine): generous timeouts.
describe('Node crashes with the tracker installed', { timeout: 180_000 }, () => {
  it.each([
    ['throw', 'Error', 'kaboom 42', 'uncaughtException'],
    ['reject', 'TypeError', 'rejected 7', 'unhandledRejection'],
    ['reject-string', 'UnhandledPromiseRejection', undefined, 'unhandledRejection'],
  ])(
    '%s: same exit code and error output, event tracked first',
    async (scenario, type, message, mechanism) => {
      const [bare, hold, monitor] = await Promise.all([
        run(scenario, 'bare'),
        run(scenario, 'hold'),
        run(scenario, 'monitor'),
      ]);
      expect(bare.code).toBe(1);
      expect(bare.stderr).toContain('Node.js v');

      // persistBeforeCrashMs 0: Node's own crash, byte for byte.
      expect(monitor.code).toBe(bare.code);
      expect(monitor.stderr).toBe(bare.stderr);
      expect(exceptionLines(monitor)).toEqual([
        expect.objectContaining({
          type,
          level: 'fatal',
          mechanism,
          handled: false,
          ...(message ? { message } : {}),
        }),
      ]);

      // Default: the crash waits for persist(), then happens with the same error and code.
      expect(hold.code).toBe(bare.code);
      expect(afterHeader(hold.stderr)).toBe(afterHeader(bare.stderr));
      expect(exceptionLines(hold)).toEqual(exceptionLines(monitor));
      const events = hold.lines.map((l) => (l['event'] ? 'event' : l['persisted'] ? 'persisted' : 'other'));
      expect(events.slice(-2)).toEqual(['event', 'persisted']);
    },
  );

  it.each([
    ['throw', 'kaboom 42', 'uncaughtException'],
    ['reject', 'rejected 7', 'unhandledRejection'],
  ])(
    '%s with two clients: one crash with the same exit code and error output, both record and persist',
    async (scenario, message, mechanism) => {
      const [bare, two] = await Promise.all([run(scenario, 'bare'), run(scenario, 'two')]);
      expect(bare.code).toBe(1);
      expect(two.code).toBe(bare.code);
      expect(afterHeader(two.stderr)).toBe(afterHeader(bare.stderr));
      for (const client of ['first', 'second']) {
        expect(exceptionLines(two).filter((l) => l['client'] === client)).toEqual([
          expect.objectContaining({ message, mechanism, level: 'fatal', handled: false }),
        ]);
      }
      expect(two.lines.filter((l) => 'persisted' in l)).toEqual(
        expect.arrayContaining([{ persisted: 'first' }, { persisted: 'second' }]),
      );
    },
  );

  it('two clients and an app listener: the app keeps running, both clients record it as handled', async () => {
    const two = await run('app-handles-exception', 'two');
    expect(two.code).toBe(0);
    expect(two.lines).toEqual(expect.arrayContaining([{ stillRunning: true }]));
    expect(exceptionLines(two).map((l) => [l['client'], l['level']])).toEqual([
      ['first', 'error'],
      ['second', 'error'],
    ]);
  });

  it('exit listeners see code 1, as without Homing', async () => {
    const [bare, hold] = await Promise.all([run('exit-code', 'bare'), run('exit-code', 'hold')]);
    expect(bare.lines.at(-1)).toEqual({ exitEvent: 1 });
    expect(hold.lines.at(-1)).toEqual({ exitEvent: 1 });
    expect(hold.code).toBe(1);
  });

  it('an app with its own uncaughtException listener keeps running; the error is recorded', async () => {
    const [bare, hold] = await Promise.all([
      run('app-handles-exception', 'bare'),
      run('app-handles-exception', 'hold'),
    ]);
    expect(bare.code).toBe(0);
    expect(hold.code).toBe(0);
    expect(hold.stderr).toBe(bare.stderr);
    expect(hold.lines).toEqual(
      expect.arrayContaining([{ appHandled: 'handled by app' }, { stillRunning: true }]),
    );
    expect(exceptionLines(hold)).toEqual([
      expect.objectContaining({ message: 'handled by app', level: 'error' }),
    ]);
  });

  it('an app listener added with once before the client handles the exception: the app keeps running', async () => {
    const [bare, hold] = await Promise.all([
      run('app-once-exception', 'bare'),
      run('app-once-exception', 'hold'),
    ]);
    expect(bare.code).toBe(0);
    expect(hold.code).toBe(0);
    expect(hold.stderr).toBe(bare.stderr);
    expect(hold.lines).toEqual(
      expect.arrayContaining([{ appHandled: 'handled once by app' }, { stillRunning: true }]),
    );
    expect(exceptionLines(hold)).toEqual([
      expect.objectContaining({ message: 'handled once by app', level: 'error' }),
    ]);
  });

  it('an app that handles one rejection with once: the second, in the same tick, crashes as without Homing', async () => {
    const [bare, hold, monitor] = await Promise.all([
      run('app-once-rejection', 'bare'),
      run('app-once-rejection', 'hold'),
      run('app-once-rejection', 'monitor'),
    ]);
    expect(bare.code).toBe(1);
    expect(bare.lines).not.toContainEqual({ stillRunning: true });
    expect(monitor.code).toBe(bare.code);
    expect(monitor.stderr).toBe(bare.stderr);
    expect(hold.code).toBe(bare.code);
    expect(afterHeader(hold.stderr)).toBe(afterHeader(bare.stderr));
    // The hold waits for persist(), so only a crash at once ends before the app's timer.
    expect(monitor.lines).not.toContainEqual({ stillRunning: true });
    for (const r of [hold, monitor]) {
      expect(exceptionLines(r).map((l) => [l['message'], l['level']])).toEqual([
        ['first rejection', 'error'],
        ['second rejection', 'fatal'],
      ]);
    }
  });

  it('an app with its own unhandledRejection listener keeps running; the rejection is recorded', async () => {
    const [bare, hold] = await Promise.all([
      run('app-handles-rejection', 'bare'),
      run('app-handles-rejection', 'hold'),
    ]);
    expect(bare.code).toBe(0);
    expect(hold.code).toBe(0);
    expect(hold.stderr).toBe(bare.stderr);
    expect(hold.lines).toEqual(
      expect.arrayContaining([{ appHandled: 'rejection handled by app' }, { stillRunning: true }]),
    );
    expect(exceptionLines(hold)).toEqual([
      expect.objectContaining({
        message: 'rejection handled by app',
        mechanism: 'unhandledRejection',
        level: 'error',
      }),
    ]);
  });

  it.each([['warn'], ['none'], ['strict']])(
    '--unhandled-rejections=%s: same exit code and output',
    async (mode) => {
      const args = [`--unhandled-rejections=${mode}`];
      const [bare, hold] = await Promise.all([run('reject', 'bare', args), run('reject', 'hold', args)]);
      const pid = (s: string) => s.replace(/\(node:\d+\)/g, '(node:PID)');
      expect(hold.code).toBe(bare.code);
      expect(pid(hold.stderr)).toBe(pid(bare.stderr));
      // Recorded where listening cannot change what Node does.
      expect(exceptionLines(hold)).toHaveLength(mode === 'warn' ? 0 : 1);
    },
  );
});

describe('rejectionMode', () => {
  const proc = (execArgv: string[], nodeOptions = '') =>
    ({ execArgv, env: { NODE_OPTIONS: nodeOptions } }) as never;
  it('reads the flag from execArgv and NODE_OPTIONS, execArgv last', () => {
    expect(rejectionMode(proc([]))).toBe('throw');
    expect(rejectionMode(proc(['--unhandled-rejections=warn']))).toBe('warn');
    expect(rejectionMode(proc(['--unhandled-rejections', 'none']))).toBe('none');
    expect(rejectionMode(proc(['--unhandled-rejections=strict'], '--unhandled-rejections=warn'))).toBe(
      'strict',
    );
    expect(rejectionMode(proc([], '--unhandled-rejections=warn-with-error-code'))).toBe(
      'warn-with-error-code',
    );
    expect(rejectionMode(proc(['--unhandled-rejections=bogus']))).toBe('throw');
  });
});
