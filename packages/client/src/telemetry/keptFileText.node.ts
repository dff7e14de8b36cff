import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { OWN_FILE_ONLY } from '../outbox/file-log/notOurs.js';

/** Opened only as a file of its own (see `OWN_FILE_ONLY`). */
export const KEPT_FILE_READ_FLAGS = constants.O_RDONLY | OWN_FILE_ONLY;

/**
 * The text of a file the client keeps in the outbox directory (the install id, the identity),
 * or undefined when it is missing or is no regular file: an install-id that was a symlink to a
 * token elsewhere sent the token as every event's distinct_id. Other failures are thrown.
 */
export function keptFileText(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, KEPT_FILE_READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return undefined;
    throw error;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : undefined;
  } finally {
    closeSync(fd);
  }
}
