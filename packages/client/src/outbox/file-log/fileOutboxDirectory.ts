import { FileOutbox } from './FileOutbox.js';

const DIRECTORY = Symbol('homing.fileOutboxDirectory');

/** Marks `outbox` (what `createFileOutbox` returns, which wraps a FileOutbox) as kept in `directory`. */
export function markFileOutbox<T extends object>(outbox: T, directory: string): T {
  Object.defineProperty(outbox, DIRECTORY, { value: directory });
  return outbox;
}

/**
 * The directory of a file outbox an app made itself and passed as `storage` (from
 * `createFileOutbox`, or a FileOutbox), else undefined: the client keeps the install id and
 * the identity beside its files, read synchronously, as with `storage: 'file'`.
 */
export function fileOutboxDirectory(outbox: unknown): string | undefined {
  if (outbox instanceof FileOutbox) return outbox.directory;
  if (typeof outbox !== 'object' || outbox === null) return undefined;
  const directory = (outbox as { [DIRECTORY]?: unknown })[DIRECTORY];
  return typeof directory === 'string' ? directory : undefined;
}
