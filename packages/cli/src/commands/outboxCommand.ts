import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutboxLimits } from '@homing/client';
import { FileOutbox, OutboxIoError, OutboxNotFoundError } from '@homing/client';

/** A read-only view of an outbox directory (`FileOutbox.inspect`): status and listings. */
export type OutboxInspector = Awaited<ReturnType<typeof FileOutbox.inspect>>;
export type DeadLetter = Awaited<ReturnType<OutboxInspector['listDeadLetters']>>[number];
export type Outbox = FileOutbox;

/** Where a command writes; tests pass their own. */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

export const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

/** A failure the user can act on: printed with its hint, exit code 1 (2 for bad usage). */
export class CommandError extends Error {
  readonly kind = 'command' as const;
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/**
 * Looks at the outbox in `dir` without changing anything (no lock, no cleanup, no limits): a
 * directory that is missing or holds none of an outbox's files is refused (a typo must neither
 * create an outbox nor be shown as an empty one).
 */
export async function inspectOutbox(dir: string): Promise<{ inspector: OutboxInspector; directory: string }> {
  try {
    const inspector = await FileOutbox.inspect(dir);
    await assertFilesReadable(inspector.directory);
    return { inspector, directory: inspector.directory };
  } catch (error) {
    if (error instanceof OutboxNotFoundError) {
      throw new CommandError(
        `No outbox at ${error.directory}: ${error.detail}`,
        `Pass the directory of an existing outbox with --outbox DIR (by default <cache>/homing/<name>).`,
      );
    }
    if (error instanceof OutboxIoError) throw await accessError(dir, 'read', error.cause);
    throw error;
  }
}

const DENIED = new Set(['EACCES', 'EPERM']);

/**
 * The outbox makes its files its owner's alone (0600), so another user may list the directory
 * and still not read a file of it: said up front, as for the directory, not as the first read's
 * EACCES half-way through a listing. A file gone meanwhile (delivery deleted it) is no matter.
 */
async function assertFilesReadable(directory: string): Promise<void> {
  const denied = async (error: unknown): Promise<void> => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && DENIED.has(code)) throw await accessError(directory, 'read', error);
  };
  let names: string[] = [];
  try {
    // Listing a subdirectory it may not enter (`state/`, 0700) fails too.
    names = await readdir(directory, { recursive: true });
  } catch (error) {
    await denied(error);
  }
  for (const name of names) await access(join(directory, name), constants.R_OK).catch(denied);
}

/** The outbox is there but this user may not read (or change) it: say whose it is. */
async function accessError(dir: string, need: 'read' | 'change', cause: unknown): Promise<CommandError> {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined || !DENIED.has(code)) {
    return new CommandError(
      `cannot ${need} the outbox at ${dir}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
  }
  const owner = await stat(dir).then(
    (s) => ` (it belongs to uid ${s.uid})`,
    () => '',
  );
  return new CommandError(
    `permission denied: this user cannot ${need} the outbox at ${dir}${owner}`,
    'run the command as the user the app runs as (e.g. sudo -u that user), or give this user access to the directory',
  );
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
  // fails half-way with a message about a lock file.
  await access(directory, constants.W_OK).catch(async (error: unknown) => {
    throw await accessError(directory, 'change', error);
  });
  const limits = (await inspector.savedLimits()) ?? KEEP_EVERYTHING;
  return { outbox: new FileOutbox({ directory, ...limits, saveLimits: false }), directory, inspector };
}

/** Runs a command body, turning CommandErrors into a message, a hint and an exit code. */
export async function runCommand(io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof CommandError) {
      io.stderr.write(`error: ${error.message}\n`);
      if (error.hint !== undefined) io.stderr.write(`hint: ${error.hint}\n`);
      return error.exitCode;
    }
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
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
