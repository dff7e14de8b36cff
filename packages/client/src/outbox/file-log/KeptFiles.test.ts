import { describe, expect, it } from 'vitest';
import { KeptFiles, KEPT_FILES_RETRY_AFTER_MS } from './KeptFiles.js';

const quiet = { debug() {}, warn() {}, error() {} };

/** KeptFiles whose `outbox.json` write fails with `code` while `failing` says so, on a clock the test moves. */
function kept(code: string) {
  const clock = { ms: 0 };
  const state = { failing: true, saves: 0, told: 0 };
  const files = new KeptFiles({
    save: async () => {
      state.saves++;
      if (state.failing) throw Object.assign(new Error(`${code}: failed`), { code });
    },
    saveNow: () => {
      state.saves++;
      if (state.failing) throw Object.assign(new Error(`${code}: failed`), { code });
    },
    logger: quiet,
    now: () => clock.ms,
  });
  files.onLost(() => state.told++);
  return { files, clock, state };
}

describe('KeptFiles', () => {
  // QA: under lasting EMFILE the listeners were told after every failed write (the client then
  // wrote the install id and warned, each time), and each landed group tried outbox.json again.
  it('tells its listeners only once outbox.json is written, and tries again at most once a second', async () => {
    const { files, clock, state } = kept('EMFILE');
    files.writeAgain();
    await files.settled();
    expect(state).toEqual({ failing: true, saves: 1, told: 0 });
    expect(files.lost).toBe(true);
    // Groups landing within the second after the failure: no new try.
    for (let i = 0; i < 20; i++) {
      clock.ms += 10;
      files.retry();
      await files.settled();
    }
    expect(state.saves).toBe(1);
    clock.ms = KEPT_FILES_RETRY_AFTER_MS;
    files.retry();
    await files.settled();
    expect(state).toEqual({ failing: true, saves: 2, told: 0 });
    state.failing = false;
    clock.ms += KEPT_FILES_RETRY_AFTER_MS;
    files.retry();
    await files.settled();
    expect(state).toEqual({ failing: false, saves: 3, told: 1 });
    expect(files.lost).toBe(false);
    // Written: nothing more to try.
    clock.ms += KEPT_FILES_RETRY_AFTER_MS;
    files.retry();
    await files.settled();
    expect(state.saves).toBe(3);
  });

  it('a failure that does not pass is neither told nor tried again', async () => {
    const { files, clock, state } = kept('EISDIR');
    files.writeAgain();
    await files.settled();
    clock.ms += KEPT_FILES_RETRY_AFTER_MS;
    files.retry();
    await files.settled();
    expect(state).toEqual({ failing: true, saves: 1, told: 0 });
  });

  it('a directory made again is written at once, even within the second after a failure', async () => {
    const { files, state } = kept('EMFILE');
    files.writeAgain();
    await files.settled();
    state.failing = false;
    files.writeAgain();
    await files.settled();
    expect(state).toEqual({ failing: false, saves: 2, told: 1 });
  });

  // QA: a directory made again by a synchronous write at exit was never written back (no later turn).
  it('writeAgainNow writes and tells in the same call; not after a failed write', () => {
    const { files, state } = kept('EMFILE');
    files.writeAgainNow();
    expect(state).toEqual({ failing: true, saves: 1, told: 0 });
    expect(files.lost).toBe(true);
    state.failing = false;
    files.writeAgainNow();
    expect(state).toEqual({ failing: false, saves: 2, told: 1 });
    expect(files.lost).toBe(false);
  });
});
