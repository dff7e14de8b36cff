import { constants } from 'node:fs';

/**
 * Open flags for a file the outbox keeps, so that only a file of its own is opened: a symlink is
 * not followed (ELOOP: its target lies outside the outbox, and writing or cutting through it
 * damaged a file elsewhere) and a FIFO does not block the open (it held a pool thread, and the
 * process, for good). Windows has neither flag, nor FIFOs in a directory.
 */
export const OWN_FILE_ONLY = (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * The name something that is not ours is moved aside to, where one of our files belongs (a
 * directory, a symlink, a FIFO): never deleted, since it is not ours.
 */
export function inTheWayName(file: string): string {
  return `${file}.${Date.now()}.in-the-way`;
}
