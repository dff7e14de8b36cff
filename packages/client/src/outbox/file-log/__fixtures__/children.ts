import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Spawning `outbox-child.ts` from tests and reading what it printed. */
const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  /** Complete lines printed so far. */
  readonly lines: string[];
  /** Resolves when the process is gone (and reaped, so its pid is free). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a line starting with `prefix` has been printed. */
  waitFor(prefix: string, timeoutMs?: number): Promise<void>;
  stderr(): string;
}

export function spawnOutboxChild(args: string[]): Child {
  return spawnFixture('./outbox-child.ts', args);
}

/** Runs `script`, a TypeScript file beside this one, in a child process of its own. */
export function spawnFixture(script: string, args: string[]): Child {
  const child = spawn(process.execPath, ['--import', here('./register-ts.mjs'), here(script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: () => void }[] = [];
  let partial = '';
  let errors = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (line.startsWith(w.prefix)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    lines,
    exited,
    stderr: () => errors,
    waitFor(prefix, timeoutMs = 60_000) {
      if (lines.some((l) => l.startsWith(prefix))) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child printed no "${prefix}" line; stderr: ${errors}`)),
          timeoutMs,
        );
        waiters.push({
          prefix,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          if (lines.some((l) => l.startsWith(prefix))) resolve();
          else reject(new Error(`child exited before printing "${prefix}"; stderr: ${errors}`));
        });
      });
    },
  };
}

/** uuids printed on lines of this kind ('Q', 'P', 'S', 'A', 'R'). */
export function printed(lines: readonly string[], kind: string): string[] {
  return lines.filter((l) => l.startsWith(`${kind} `)).flatMap((l) => l.slice(2).split(' '));
}
