import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveTelemetryOptions } from '../../telemetry/resolveTelemetryOptions.js';
import { OutboxOptionError } from '../errors.js';
import { makeRecords } from '../outbox.contract.js';
import type { OutboxDrop } from '../outbox.js';
import { createFileOutbox } from './createFileOutbox.js';
import { readSavedLimits } from './outboxInfo.js';
import { DEAD_LETTER_FILE, INFO_FILE } from './segmentFiles.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-dead-letter-bytes-'));
  dirs.push(dir);
  return dir;
}

describe('file outbox maxDeadLetterBytes', () => {
  it('bounds the dead-letter file, dropping the oldest dead letters (overflow, with their bytes)', async () => {
    const directory = tempDir();
    const cap = 64 * 1024;
    const outbox = createFileOutbox({ directory, maxDeadLetterBytes: cap });
    const drops: OutboxDrop[] = [];
    outbox.onDrop((d) => drops.push(d));
    const records = makeRecords(100, 4000);
    for (let i = 0; i < records.length; i += 10) {
      outbox.append(records.slice(i, i + 10));
      const batch = await outbox.claim(10, Infinity);
      await outbox.deadLetter(batch!.records, 'HTTP 400');
      await outbox.ack(batch!);
      expect((await fs.stat(path.join(directory, DEAD_LETTER_FILE))).size).toBeLessThanOrEqual(cap);
    }
    const kept = (await outbox.listDeadLetters()).map((d) => d.record.uuid);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(records.slice(records.length - kept.length).map((r) => r.uuid));
    expect((await outbox.size()).deadLetters).toBe(kept.length);
    const overflow = drops.filter((d) => d.reason === 'overflow');
    expect(overflow.reduce((n, d) => n + d.count, 0)).toBe(records.length - kept.length);
    expect(overflow.reduce((n, d) => n + (d.bytes ?? 0), 0)).toBe((records.length - kept.length) * 4000);
    await outbox.close();
  });

  it('is saved in outbox.json for the tools; one saved without it (an older app) bounds nothing', async () => {
    const directory = tempDir();
    const outbox = createFileOutbox({ directory, maxDeadLetterBytes: 12345 });
    await outbox.persist();
    await outbox.close();
    expect(await readSavedLimits(directory)).toMatchObject({ maxDeadLetterBytes: 12345 });
    const file = path.join(directory, INFO_FILE);
    const info = JSON.parse(await fs.readFile(file, 'utf8')) as { limits: Record<string, unknown> };
    delete info.limits.maxDeadLetterBytes;
    await fs.writeFile(file, JSON.stringify(info));
    expect(await readSavedLimits(directory)).toMatchObject({
      maxDeadLetterBytes: Number.MAX_SAFE_INTEGER,
      maxDeadLetters: 10_000,
    });
  });

  it('is validated like maxDeadLetters: an integer >= 0', () => {
    for (const bad of [-1, 1.5, '1000', Number.NaN]) {
      expect(() => createFileOutbox({ directory: tempDir(), maxDeadLetterBytes: bad as number })).toThrow(
        expect.objectContaining({ option: 'maxDeadLetterBytes' }) as OutboxOptionError,
      );
    }
    // A telemetry client takes it among its `limits`.
    const endpoints = [{ destination: 'homing' as const, host: 'http://127.0.0.1:9', key: 'k' }];
    expect(resolveTelemetryOptions({ endpoints, limits: { maxDeadLetterBytes: 0 } }).limits).toEqual({
      maxDeadLetterBytes: 0,
    });
  });
});
