import { randomBytes } from 'node:crypto';
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomicFile.js';
import { makeDirectory } from './makeDirectory.js';
import { NotOurFileError } from './notOurs.js';
import { ownFileText } from './ownFileText.js';

/**
 * A `clear()` in a process that does not hold the delivery lock, written down for the holder
 * (`state/clear-request-<ms>-<pid>-<rand>.json`): per segment, the byte offset up to which its
 * records were appended when consent was withdrawn (the end of the last whole frame the
 * requesting process read). The holder, any process, honours every request before its next
 * claim (`QueueHolder.acquire`): frames before the offset are dropped (counted 'consent'),
 * those in flight are dropped as by a clear; frames after it, and segments the request does not
 * name (made later), were appended after the denial, and are kept. Positions, not timestamps:
 * writers only ever add to the end of a segment, so they tell before from after exactly.
 *
 * One file per request, never rewritten: two processes asking at once cannot undo each other.
 * A request is removed only once the cursor that holds its drops is saved; applied twice (a
 * crash in between), it drops nothing more.
 */
export interface ClearRequest {
  readonly file: string;
  /** Segment base name -> frames starting before this offset are cleared. */
  readonly upTo: ReadonlyMap<string, number>;
}

const REQUEST_FILE = /^clear-request-\d+-\d+-[0-9a-f]{8}\.json$/;

export class ClearRequests {
  constructor(
    /** The outbox's `state/` directory. */
    private readonly directory: string,
    private readonly options: {
      fsync: boolean;
    },
  ) {}

  /** Writes a request; `upTo` maps segment base names to offsets. */
  async write(upTo: ReadonlyMap<string, number>): Promise<void> {
    await makeDirectory(this.directory);
    const name = `clear-request-${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
    const json = JSON.stringify({ upTo: Object.fromEntries(upTo) });
    await writeFileAtomic(path.join(this.directory, name), json, this.options);
  }

  /**
   * The requests waiting, oldest first (empty when there is none). The look is a synchronous
   * readdir of `state/` (a few small entries, tens of microseconds, in the delivery's path, never
   * in track()): asked before every claim, an asynchronous one put a thread-pool round trip in
   * front of each, which changed how a delivery's workers interleave (a flush refused with 401
   * sent a second batch before it stopped).
   */
  async read(): Promise<ClearRequest[]> {
    let names: string[];
    try {
      names = readdirSync(this.directory).filter((n) => REQUEST_FILE.test(n));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || (code === 'ENOTDIR' && (await this.somethingElseInPlace()))) return [];
      throw error;
    }
    if (names.length === 0) return [];
    const requests: ClearRequest[] = [];
    for (const name of names.sort()) {
      const file = path.join(this.directory, name);
      let text: string | undefined;
      try {
        text = await ownFileText(file);
      } catch (error) {
        // A FIFO or a link named like a request: no request (requests are written whole, by
        // rename), never read, and left as it is.
        if (error instanceof NotOurFileError) continue;
        throw error;
      }
      // Honoured and removed by another holder meanwhile.
      if (text === undefined) continue;
      requests.push({ file, upTo: parseUpTo(text) });
    }
    return requests;
  }

  /**
   * A file (not a directory) at `state/`, in an outbox directory that is still one: it holds no
   * request, and must not fail every claim until an outbox opens and moves it aside. ENOTDIR
   * because the outbox directory itself is a file now is not this, and still fails the claim.
   */
  private async somethingElseInPlace(): Promise<boolean> {
    const st = await fs.lstat(this.directory).catch(() => null);
    return st !== null && !st.isDirectory();
  }

  /** Removes honoured requests. */
  async remove(requests: readonly ClearRequest[]): Promise<void> {
    for (const r of requests) await fs.rm(r.file, { force: true });
  }
}

/** The offsets of a request; a file that is not one (written by hand) names no segment. */
function parseUpTo(text: string): Map<string, number> {
  const upTo = new Map<string, number>();
  try {
    const parsed = JSON.parse(text) as { upTo?: unknown };
    if (parsed.upTo === null || typeof parsed.upTo !== 'object') return upTo;
    for (const [base, offset] of Object.entries(parsed.upTo as Record<string, unknown>)) {
      if (typeof offset === 'number' && Number.isFinite(offset) && offset > 0) upTo.set(base, offset);
    }
  } catch {
    // Requests are written atomically: only a hand-edited file gets here.
  }
  return upTo;
}
