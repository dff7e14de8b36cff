import type { OutboxLimits } from '@homing/client';
import { FileOutbox, OutboxIoError, OutboxNotFoundError } from '@homing/client';
import { terminalText } from '../terminalText.js';
import { CommandError } from './commandError.js';
import { givenPath } from './givenPath.js';
import {
  accessError,
  assertOutboxOwn,
  assertOutboxPrivate,
  assertOutboxReadable,
  assertOutboxWritable,
  unexplained,
} from './outboxAccess.js';

const DENIED = new Set(['EACCES', 'EPERM']);

/** A read-only view of an outbox directory (`FileOutbox.inspect`): status and listings. */
export type OutboxInspector = Awaited<ReturnType<typeof FileOutbox.inspect>>;
export type DeadLetter = Awaited<ReturnType<OutboxInspector['listDeadLetters']>>[number];
export type Outbox = FileOutbox;

/** Where a command writes; tests pass their own. */
export interface CommandIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  /** `columns`: the terminal's width, when stderr is one (a progress bar fits in it). */
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

export const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

export { CommandError };

/**
 * Looks at the outbox in `given` without changing anything (no lock, no cleanup, no limits): a
 * directory that is missing or holds none of an outbox's files is refused (a typo must neither
 * create an outbox nor be shown as an empty one), and so is one that others can write in, as the
 * app refuses it (`assertOutboxPrivate`). `~/` in `given` is the home directory (`givenPath`).
 */
export async function inspectOutbox(
  given: string,
): Promise<{ inspector: OutboxInspector; directory: string }> {
  const dir = givenPath(given);
  try {
    const inspector = await FileOutbox.inspect(dir);
    await assertOutboxPrivate(inspector.directory);
    await assertOutboxReadable(inspector.directory);
    return { inspector, directory: inspector.directory };
  } catch (error) {
    if (error instanceof OutboxNotFoundError) {
      throw new CommandError(
        `No outbox at ${error.directory}: ${error.detail}`,
        `Pass the directory of an existing outbox with --outbox DIR (by default <cache>/homing/<name>).`,
      );
    }
    if (error instanceof OutboxIoError) {
      if (!DENIED.has((error.cause as NodeJS.ErrnoException | undefined)?.code ?? ''))
        throw unexplained(dir, 'read', error.cause);
      throw await accessError(dir, 'read', [dir]);
    }
    throw error;
  }
}

/**
 * No trimming at all: for an outbox that saved no limits (written by an older version), a tool
 * must not apply defaults the app may not have chosen (a 7-day retention on a 30-day outbox).
 */
const KEEP_EVERYTHING: OutboxLimits = {
  maxEvents: Number.MAX_SAFE_INTEGER,
  maxBytes: Number.MAX_SAFE_INTEGER,
  overflow: 'drop-oldest',
  retentionMs: 0,
  maxDeadLetters: Number.MAX_SAFE_INTEGER,
  maxDeadLetterBytes: Number.MAX_SAFE_INTEGER,
};

/**
 * Opens the outbox in `dir` to change it (flush, replay, purge), with the limits the app saved in
 * it (none when it saved none), and without saving limits of its own.
 */
export async function openOutbox(
  dir: string,
): Promise<{ outbox: Outbox; directory: string; inspector: OutboxInspector }> {
  const { inspector, directory } = await inspectOutbox(dir);
  // Changing an outbox writes lock and state files beside the segments: refuse before any of it
  // fails half-way with a message about a lock file. And not in another account's: a flush
  // would send what it holds with the endpoints and keys saved in it.
  await assertOutboxWritable(directory);
  await assertOutboxOwn(directory);
  const limits = (await inspector.savedLimits()) ?? KEEP_EVERYTHING;
  // A command waits for its answer: watching a lock whose owner stopped (Ctrl-Z, a debugger)
  // must keep it alive, or it ended mid-await, exit code 13, without a word.
  const outbox = new FileOutbox({ directory, ...limits, saveLimits: false, keepAliveWhileWatching: true });
  return { outbox, directory, inspector };
}

/**
 * Runs a command body, turning CommandErrors into a message, a hint and an exit code. Messages
 * quote what the command met (an endpoint's answer, a saved host, a path, a library's error):
 * each is printed as terminal-safe text, on one line.
 */
export async function runCommand(io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof CommandError) {
      io.stderr.write(`error: ${terminalText(error.message)}\n`);
      if (error.hint !== undefined) io.stderr.write(`hint: ${terminalText(error.hint)}\n`);
      return error.exitCode;
    }
    io.stderr.write(`error: ${terminalText(error instanceof Error ? error.message : String(error))}\n`);
    // A bare ENOTDIR said nothing of what to do (a file left where the outbox keeps a directory).
    if ((error as NodeJS.ErrnoException | null)?.code === 'ENOTDIR') {
      io.stderr.write(
        'hint: a file is where a directory should be on that path: move the file aside (mv FILE FILE.in-the-way) and try again\n',
      );
    }
    return 1;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
