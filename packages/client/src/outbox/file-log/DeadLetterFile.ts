import { Buffer } from 'node:buffer';
import { promises as fs } from 'node:fs';
import { OutboxIoError } from '../errors.js';
import type { DeadLetter, OutboxRecord } from '../outbox.js';
import { writeFileAtomic } from './atomicFile.js';
import { DirectoryLock } from './DirectoryLock.js';
import { decodePayload, encodeFrames } from './frame.js';
import { scanSegment } from './segmentScan.js';

/**
 * The dead-letter store of the file outbox: one file of frames (same framing and checksums as
 * the segments), capped at `maxDeadLetters` (oldest dropped first). Dead letters are few and
 * rarely touched, so changes other than an append rewrite the file atomically. A short lock of
 * its own serialises processes (a CLI replaying while a service dead-letters).
 */
export interface DeadLetterFileOptions {
  readonly file: string;
  readonly lockFile: string;
  readonly maxDeadLetters: number;
  readonly fsync: boolean;
  readonly staleMs: number;
}

export class DeadLetterFile {
  private readonly lock: DirectoryLock;
  private cachedCount: { signature: string; count: number } | null = null;

  constructor(private readonly o: DeadLetterFileOptions) {
    this.lock = new DirectoryLock(o.lockFile, { staleMs: o.staleMs });
  }

  async add(records: readonly OutboxRecord[], reason: string, atMs: number): Promise<void> {
    if (records.length === 0) return;
    const { buffer } = encodeDeadLetters(
      records.map((record) => ({ record, reason, deadLetteredAtMs: atMs })),
    );
    await this.withLock(async () => {
      const handle = await fs.open(this.o.file, 'a');
      try {
        await handle.write(buffer);
        if (this.o.fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      const all = await this.readAll();
      if (all.length > this.o.maxDeadLetters)
        await this.rewrite(all.slice(all.length - this.o.maxDeadLetters));
    });
  }

  async list(limit = Infinity): Promise<DeadLetter[]> {
    const all = await this.readAll();
    return Number.isFinite(limit) ? all.slice(0, Math.max(0, limit)) : all;
  }

  async count(): Promise<number> {
    const signature = await this.signature();
    if (this.cachedCount?.signature === signature) return this.cachedCount.count;
    const count = (await this.readAll()).length;
    this.cachedCount = { signature, count };
    return count;
  }

  /**
   * Takes the dead letters with these uuids (all when undefined): `use` runs first (e.g. puts
   * them back in the queue, durably), and only then are they removed, so a crash in between
   * keeps them (at worst they are both queued and still listed).
   */
  async take(
    uuids: readonly string[] | undefined,
    use: (taken: DeadLetter[]) => Promise<void>,
  ): Promise<number> {
    const wanted =
      uuids === undefined
        ? null
        : new Set(Array.isArray(uuids) ? uuids.filter((u) => typeof u === 'string') : []);
    return this.withLock(async () => {
      const all = await this.readAll();
      const taken = all.filter((d) => wanted === null || wanted.has(d.record.uuid));
      if (taken.length === 0) return 0;
      await use(taken);
      await this.rewrite(all.filter((d) => !(wanted === null || wanted.has(d.record.uuid))));
      return taken.length;
    });
  }

  private async readAll(): Promise<DeadLetter[]> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.o.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const out: DeadLetter[] = [];
    try {
      await scanSegment(
        handle,
        { from: 0, sealed: true, verifyPayload: true },
        (_offset, header, buf, at) => {
          const { uuid, json } = decodePayload(buf, at, header);
          try {
            const entry = JSON.parse(json) as { reason?: unknown; at?: unknown; json?: unknown };
            if (typeof entry.json !== 'string') return;
            out.push({
              record: { uuid, json: entry.json, timestampMs: header.timestampMs },
              reason: String(entry.reason ?? ''),
              deadLetteredAtMs: typeof entry.at === 'number' ? entry.at : 0,
            });
          } catch {
            // A frame that passed its checksum but is not ours: skip it.
          }
        },
      );
    } finally {
      await handle.close();
    }
    return out;
  }

  private async rewrite(entries: readonly DeadLetter[]): Promise<void> {
    await writeFileAtomic(this.o.file, encodeDeadLetters(entries).buffer, { fsync: this.o.fsync });
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + Math.max(5000, this.o.staleMs * 2);
    while (!(await this.lock.tryAcquire())) {
      if (Date.now() > deadline) {
        throw new OutboxIoError('dead-letter lock', {
          cause: new Error('dead-letter store is locked by another process'),
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
    try {
      return await fn();
    } finally {
      await this.lock.release();
    }
  }

  private async signature(): Promise<string> {
    try {
      const st = await fs.stat(this.o.file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'none';
    }
  }
}

function encodeDeadLetters(entries: readonly DeadLetter[]): { buffer: Buffer } {
  return encodeFrames(
    entries.map((d) => {
      const json = JSON.stringify({ reason: d.reason, at: d.deadLetteredAtMs, json: d.record.json });
      return {
        uuid: d.record.uuid,
        json,
        timestampMs: d.record.timestampMs,
        uuidBytes: Buffer.byteLength(d.record.uuid),
        jsonBytes: Buffer.byteLength(json),
      };
    }),
  );
}
