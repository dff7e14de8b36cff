import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createNodePlatform } from '@homing/client';

/** The outbox interface, as the client's Node platform hands it out. */
export type Outbox = ReturnType<ReturnType<typeof createNodePlatform>['createDefaultOutbox']>;
export type DeadLetter = Awaited<ReturnType<Outbox['listDeadLetters']>>[number];

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

/** Opens the file outbox in `dir`, which must exist already (a typo must not create an empty one). */
export function openOutbox(dir: string): { outbox: Outbox; directory: string } {
  const directory = resolve(dir);
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new CommandError(
      `No outbox at ${directory}`,
      'Pass the directory of an existing outbox with --outbox DIR (by default <cache>/homing/<name>).',
    );
  }
  return { outbox: createNodePlatform().createDefaultOutbox({ name: 'cli', directory }), directory };
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
