import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
/** Runs TypeScript sources in the child (`.js` specifiers fall back to `.ts`), with a transpile cache. */
const registerTs = here('../../outbox/file-log/__fixtures__/register-ts.mjs');

export interface TelemetryChild {
  readonly process: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `exited`, but the child is SIGKILLed after `ms` (a child that would never end by itself). */
  exitedWithin(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once `count` lines starting with `prefix` were printed (rejects if the child exits first). */
  waitFor(prefix: string, count?: number, timeoutMs?: number): Promise<void>;
  stderr(): string;
}

/** Runs `telemetry-child.ts` against the TypeScript sources (no build needed). */
export function spawnTelemetryChild(args: string[], env: Record<string, string> = {}): TelemetryChild {
  const child = spawn(
    process.execPath,
    ['--conditions=homing-source', '--import', registerTs, here('./telemetry-child.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DO_NOT_TRACK: '', HOMING_DISABLED: '', ...env },
    },
  );
  const lines: string[] = [];
  let partial = '';
  let errors = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (errors += chunk));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  return {
    process: child,
    lines,
    exited,
    async exitedWithin(ms) {
      const killer = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(killer);
      }
    },
    stderr: () => errors,
    async waitFor(prefix, count = 1, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (lines.filter((l) => l.startsWith(prefix)).length < count) {
        if (done)
          throw new Error(`child exited before printing ${count} "${prefix}" lines; stderr: ${errors}`);
        if (Date.now() > deadline)
          throw new Error(`child printed too few "${prefix}" lines; stderr: ${errors}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

/** uuids printed on lines of this kind. */
export function printed(lines: readonly string[], kind: string): string[] {
  return lines.filter((l) => l.startsWith(`${kind} `)).flatMap((l) => l.slice(2).split(' ').filter(Boolean));
}
