import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The CLI package: `@homing/client` (its built dist) resolves from here for a child's script. */
const CLI_PACKAGE = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `script` (an ES module) in a new Node process; its stdout comes back line by line. */
function runScript(script: string, args: string[]): { child: ChildProcess; lines: AsyncIterator<string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], {
    cwd: CLI_PACKAGE,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines };
}

async function nextLine(lines: AsyncIterator<string>, what: string): Promise<string> {
  const next = await lines.next();
  if (next.done === true) throw new Error(`the other process ended before it said ${what}`);
  return next.value;
}

const RECORDS = `
const records = (uuids) => uuids.map((uuid) => ({
  uuid,
  json: JSON.stringify({ uuid, event: 'other.process', distinct_id: 'd', timestamp: new Date().toISOString(), properties: {} }),
  timestampMs: Date.now(),
}));
`;

/**
 * Another process (an app) appends events with `uuids` to the outbox in `dir`, writes them to
 * disk and exits; resolves once it has.
 */
export async function appendFromAnotherProcess(dir: string, uuids: string[]): Promise<void> {
  const { child } = runScript(
    `import { createFileOutbox } from '@homing/client';${RECORDS}
const outbox = createFileOutbox({ directory: process.argv[1] });
outbox.append(records(JSON.parse(process.argv[2])));
await outbox.persist();
await outbox.close();`,
    [dir, JSON.stringify(uuids)],
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the appending process exited with ${String(code)}`);
}

/** Another process holding the outbox's delivery lock with a batch claimed, as an app delivering. */
export interface LockHolder {
  readonly pid: number;
  /** Acks its batch (as if its endpoint took it) and keeps the lock. */
  ack(): Promise<void>;
  /** Lets the lock go (closes its outbox; a batch not acked goes back to the queue) and exits. */
  exit(): Promise<void>;
}

/**
 * Starts a process that opens the outbox in `dir`, claims `claimEvents` of its events (taking the
 * delivery lock) and holds them until told what to do.
 */
export async function holdLockInAnotherProcess(dir: string, claimEvents: number): Promise<LockHolder> {
  const { child, lines } = runScript(
    `import { createFileOutbox } from '@homing/client';
import { createInterface } from 'node:readline';
const outbox = createFileOutbox({ directory: process.argv[1] });
const batch = await outbox.claim(Number(process.argv[2]), Number.MAX_SAFE_INTEGER);
console.log(batch === null ? 'none' : 'holding ' + batch.records.length);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'ack') { await outbox.ack(batch); console.log('acked'); }
  if (line === 'exit') { await outbox.close(); process.exit(0); }
}`,
    [dir, String(claimEvents)],
  );
  const said = await nextLine(lines, 'that it holds a batch');
  if (said !== `holding ${claimEvents}`) throw new Error(`the other process could not claim: ${said}`);
  const exited = once(child, 'exit');
  return {
    pid: child.pid!,
    ack: async () => {
      child.stdin!.write('ack\n');
      expectLine(await nextLine(lines, 'that it acked'), 'acked');
    },
    exit: async () => {
      if (child.exitCode === null) child.stdin!.write('exit\n');
      await exited;
    },
  };
}

function expectLine(line: string, expected: string): void {
  if (line !== expected) throw new Error(`the other process said "${line}", not "${expected}"`);
}
