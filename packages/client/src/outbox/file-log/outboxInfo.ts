import path from 'node:path';
import { resolveOutboxLimits } from '../limits.js';
import type { OutboxLimits } from '../outbox.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomicFile.js';
import { NotOurFileError } from './notOurs.js';
import { ownFileText } from './ownFileText.js';
import { INFO_FILE } from './segmentFiles.js';

/**
 * `outbox.json`: the limits the app last opened the outbox with. Tools that open the directory
 * later (`homing flush`, `homing dead-letters --replay`) apply these instead of their own
 * defaults, which would drop events the app keeps (a 30-day retention cut to the default 7).
 * Written at open by every outbox with `saveLimits` (the app's), replaced atomically.
 */
interface OutboxInfo {
  readonly v: 1;
  readonly limits: OutboxLimits;
}

export async function writeOutboxInfo(
  directory: string,
  limits: OutboxLimits,
  fsync: boolean,
): Promise<void> {
  await writeFileAtomic(path.join(directory, INFO_FILE), outboxInfoText(limits), { fsync });
}

/** `writeOutboxInfo`, synchronously: for a directory made again in the turn the process ends in. */
export function writeOutboxInfoSync(directory: string, limits: OutboxLimits, fsync: boolean): void {
  writeFileAtomicSync(path.join(directory, INFO_FILE), outboxInfoText(limits), { fsync });
}

function outboxInfoText(limits: OutboxLimits): string {
  const info: OutboxInfo = {
    v: 1,
    limits: {
      maxEvents: limits.maxEvents,
      maxBytes: limits.maxBytes,
      overflow: limits.overflow,
      retentionMs: limits.retentionMs,
      maxDeadLetters: limits.maxDeadLetters,
      maxDeadLetterBytes: limits.maxDeadLetterBytes,
    },
  };
  return JSON.stringify(info);
}

/** The saved limits, or undefined when there are none (an outbox of an older version) or they are unreadable. */
export async function readSavedLimits(directory: string): Promise<OutboxLimits | undefined> {
  let text: string | undefined;
  try {
    text = await ownFileText(path.join(directory, INFO_FILE));
  } catch (error) {
    // A FIFO, a socket, a link there: no limits saved (the app moves it aside at its next open).
    if (error instanceof NotOurFileError) return undefined;
    throw error;
  }
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<OutboxInfo>;
    if (parsed.v !== 1 || parsed.limits === null || typeof parsed.limits !== 'object') return undefined;
    // Saved by a version without a byte bound on dead letters: a tool must not apply the default
    // one, which would discard dead letters that app keeps.
    return resolveOutboxLimits({
      maxDeadLetterBytes: Number.MAX_SAFE_INTEGER,
      ...(parsed.limits as Partial<OutboxLimits>),
    });
  } catch {
    return undefined;
  }
}
