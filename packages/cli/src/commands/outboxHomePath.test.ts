import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureIo, seedOutbox, startSink } from './commands.test-helpers.js';
import { deadLetters } from './dead-letters.js';
import { flush } from './flush.js';
import { status } from './status.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const c of cleanups.splice(0)) await c();
});

// A shell expands `~` only at the start of a word: `--outbox=~/x` reached the commands as is and
// they looked for `./~/x`, as `--data-dir=~/x` once did.
describe('--outbox starting with ~/', () => {
  it('is under the home directory for status, dead-letters (list and replay) and flush, not ./~', async () => {
    const seeded = await seedOutbox(2, 1);
    const sink = await startSink();
    const cwd = await mkdtemp(join(tmpdir(), 'homing-cli-cwd-'));
    cleanups.push(seeded.cleanup, sink.close, () => rm(cwd, { recursive: true, force: true }));
    vi.stubEnv('HOME', dirname(seeded.dir));
    const given = `~/${basename(seeded.dir)}`;
    const was = process.cwd();
    process.chdir(cwd);
    try {
      const shown = captureIo();
      expect(await status({ outbox: given, json: true }, shown), shown.err()).toBe(0);
      expect(JSON.parse(shown.out())).toMatchObject({
        outbox: seeded.dir,
        queue: { events: 2 },
        deadLetters: 1,
      });

      const listed = captureIo();
      expect(await deadLetters({ outbox: given, json: true }, listed), listed.err()).toBe(0);
      expect(JSON.parse(listed.out())).toHaveLength(1);

      const replayed = captureIo();
      expect(await deadLetters({ outbox: given, replay: true, json: true }, replayed), replayed.err()).toBe(
        0,
      );
      expect(JSON.parse(replayed.out())).toMatchObject({ replayed: 1 });

      const flushed = captureIo();
      expect(
        await flush({ outbox: given, host: sink.url, key: 'hw_test', timeout: 5_000 }, flushed),
        flushed.err(),
      ).toBe(0);
      expect(sink.uuids).toHaveLength(3);
      expect(existsSync(join(cwd, '~'))).toBe(false);
    } finally {
      process.chdir(was);
    }
  });
});
