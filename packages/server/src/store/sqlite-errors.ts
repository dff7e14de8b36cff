/** What the SQLite store's failures are, in words an operator can act on. */
import { StoreError } from './errors.js';

/** An open failure's code and message, both: a code alone does not say which file or why. */
export function codeAndMessage(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

export function storageError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (isDiskFull(err))
    return new StoreError('disk-full', `SQLite write failed: the disk is full (${(err as Error).message})`, {
      cause: err,
    });
  return new StoreError('storage', `SQLite write failed: ${(err as Error).message}`, { cause: err });
}

/** Free room a store whose last write found the disk full needs before it says it is ready. */
export const READY_MIN_FREE_BYTES = 4 * 1024 * 1024;

/**
 * SQLite's "database or disk is full", its shared-memory file that cannot grow (the -shm file
 * is extended when a database opens), or the file system's own ENOSPC/EDQUOT.
 */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE' || code === 'ENOSPC' || code === 'EDQUOT';
}

export function diskFullAtOpen(file: string, err: unknown): StoreError {
  const code = (err as { code?: unknown }).code;
  return new StoreError(
    'disk-full',
    `cannot open ${file}: the disk is full (${typeof code === 'string' ? code : 'no space'}); nothing is damaged. ` +
      'Free room on that disk and start again; do not move or delete the database files: they hold ' +
      'events already acknowledged',
    { cause: err },
  );
}
