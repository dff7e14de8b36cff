import { randomBytes } from 'node:crypto';

/**
 * Names of the files in an outbox directory.
 *
 *   <ms:15>-<pid>-<rand:8>.open   a segment its writer may still append to
 *   <ms:15>-<pid>-<rand:8>.log    a sealed segment: complete, never written again
 *   cursor.json                    which byte ranges of which segments are gone (acked, dropped)
 *   outbox.json                    the limits the app last opened the outbox with (`outboxInfo.ts`)
 *   delivery.lock                  held by the one process that claims, acks and cleans up
 *   dead-letters.log, dead-letters.lock, state/<key>.json
 *
 * The base name starts with the creation time, zero-padded, so sorting names sorts segments
 * oldest first; the pid says whose process writes an `.open` segment.
 */
export const OPEN_SUFFIX = '.open';
export const SEALED_SUFFIX = '.log';
export const CURSOR_FILE = 'cursor.json';
export const DELIVERY_LOCK_FILE = 'delivery.lock';
export const DEAD_LETTER_FILE = 'dead-letters.log';
export const DEAD_LETTER_LOCK_FILE = 'dead-letters.lock';
export const STATE_DIR = 'state';
export const INFO_FILE = 'outbox.json';

const SEGMENT_NAME = /^(\d{15})-(\d+)-([0-9a-f]{8})\.(open|log)$/;

export interface SegmentFileName {
  readonly base: string;
  readonly createdMs: number;
  readonly pid: number;
  readonly sealed: boolean;
}

export function parseSegmentFileName(name: string): SegmentFileName | null {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return null;
  return {
    base: `${m[1]}-${m[2]}-${m[3]}`,
    createdMs: Number(m[1]),
    pid: Number(m[2]),
    sealed: m[4] === 'log',
  };
}

export function newSegmentBase(createdMs: number): string {
  return `${String(Math.floor(createdMs)).padStart(15, '0')}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Whether `name` is one of the files only an outbox directory holds (how tools recognise one). */
export function isOutboxFileName(name: string): boolean {
  return (
    name === INFO_FILE ||
    name === CURSOR_FILE ||
    name === DEAD_LETTER_FILE ||
    parseSegmentFileName(name) !== null
  );
}
