import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import {
  type SmallDisk,
  canMountSmallDisks,
  mountSmallDisk,
} from '../outbox/file-log/smallDisk.test-helpers.js';

const disks: SmallDisk[] = [];
afterEach(() => {
  for (const d of disks.splice(0)) d.unmount();
});

/**
 * QA: `stats().persisted` went to `queued` after a clean shutdown() on a full disk, though the
 * events had only ever been in memory and the close wrote none of them (counted `unsaved`): a
 * persist() after the close resolved (the closed file outbox answered at once), and the client
 * took that as everything stored.
 */
describe.skipIf(!canMountSmallDisks())('stats().persisted on a full disk (tmpfs)', () => {
  it('counts only what reached the disk: none of what a full disk kept in memory', async () => {
    const d = mountSmallDisk(4 * 1024 * 1024);
    disks.push(d);
    const options = {
      name: 'persisted-full-disk',
      endpoints: [
        {
          destination: 'custom' as const,
          send: async (): Promise<void> => {
            throw new Error('the endpoint is down');
          },
        },
      ],
      storage: 'file' as const,
      directory: path.join(d.dir, 'outbox'),
      distinctId: 'user-1',
      respectDoNotTrack: false,
      deliveryReport: false as const,
      logger: { debug() {}, warn() {}, error() {} },
      delivery: { intervalMs: 60_000, flushOnExit: false },
    };
    // A first run leaves the outbox set up, with 3 events stored; then the disk fills.
    const setup = createTelemetry(options);
    for (let i = 0; i < 3; i++) setup.track('stored', { i });
    await setup.shutdown({ timeoutMs: 5_000 });
    // With room, a persist() after the close answers that all is stored, as before.
    await setup.persist();
    expect((await setup.stats()).persisted).toBe(3);
    expect(d.fill()).toBe(0);

    const client = createTelemetry(options);
    for (let i = 0; i < 50; i++) client.track('on a full disk', { i });
    await expect(client.persist()).rejects.toThrow(/ENOSPC/);
    await client.shutdown({ timeoutMs: 5_000 });
    await expect(client.persist()).rejects.toThrow(/50 events could not be written before the outbox closed/);
    const stats = await client.stats();
    expect(stats.queued).toBe(50);
    expect(stats.dropped.unsaved).toBe(50);
    expect(stats.persisted).toBe(0);
  });
});
