import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TelemetryOptions } from '../options.js';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const registerTs = here('../../outbox/file-log/__fixtures__/register-ts.mjs');

export interface OptionsChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** `T <uuid>` lines: the events it tracked. */
  readonly tracked: string[];
  readonly stderr: string;
}

/**
 * Runs `options-child.ts` with `options`; SIGKILLs it if it has not ended after `killAfterMs`
 * (a process kept alive shows as `signal: 'SIGKILL'`).
 */
export function runOptionsChild(
  options: Omit<TelemetryOptions, 'beforeSend'>,
  event = 'x',
  killAfterMs = 30_000,
): Promise<OptionsChildRun> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=homing-source',
      '--import',
      registerTs,
      here('./options-child.ts'),
      JSON.stringify(options),
      event,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DO_NOT_TRACK: '', HOMING_DISABLED: '' } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const tracked = stdout
        .split('\n')
        .filter((l) => l.startsWith('T '))
        .map((l) => l.slice(2));
      resolve({ code, signal, tracked, stderr });
    }),
  );
}
