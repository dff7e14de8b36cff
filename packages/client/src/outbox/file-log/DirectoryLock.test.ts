import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DirectoryLock } from './DirectoryLock.js';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});
function lockFile(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'homing-lock-'));
  dirs.push(d);
  return path.join(d, 'delivery.lock');
}
async function writeLock(
  file: string,
  pid: number,
  ageMs: number,
  thread?: number,
  host = os.hostname(),
): Promise<void> {
  await fs.writeFile(file, JSON.stringify({ pid, host, token: 'someone-else', acquiredAtMs: 0, thread }));
  await setHeartbeat(file, Date.now() - ageMs);
}
async function setHeartbeat(file: string, atMs: number): Promise<void> {
  const t = new Date(atMs);
  await fs.utimes(file, t, t);
}

/** A monotonic clock the test moves by hand. */
function handClock(): { now: () => number; advance: (ms: number) => void } {
  let ms = 1_000;
  return { now: () => ms, advance: (by) => void (ms += by) };
}

/** Our parent: alive, on this host, and not us. */
const livePid = process.ppid;

describe('DirectoryLock', () => {
  it('is held by one instance at a time and free again after release', async () => {
    const file = lockFile();
    const a = new DirectoryLock(file, { staleMs: 10_000 });
    const b = new DirectoryLock(file, { staleMs: 10_000 });
    expect(await a.tryAcquire()).toBe(true);
    expect(await a.tryAcquire()).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    expect(await a.verify()).toBe(true);
    await a.release();
    expect(a.held).toBe(false);
    expect(await b.tryAcquire()).toBe(true);
    expect(await a.tryAcquire()).toBe(false);
  });

  it('takes over the lock of a dead process at once', async () => {
    const file = lockFile();
    await writeLock(file, 99_999_999, 0);
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    expect((await lock.inspect())?.stale).toBe(true);
    expect(await lock.tryAcquire()).toBe(true);
    expect(JSON.parse(await fs.readFile(file, 'utf8')).pid).toBe(process.pid);
  });

  it('leaves no empty takeover mutex behind when writing it fails (a full disk)', async () => {
    const file = lockFile();
    await writeLock(file, 99_999_999, 0);
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    const realOpen = fs.open.bind(fs);
    // As the kernel does on a full disk: the file is created, its content refused.
    const spy = vi.spyOn(fs, 'open').mockImplementation(async (target, flags, mode) => {
      const handle = await realOpen(target, flags, mode);
      if (!String(target).endsWith('.takeover')) return handle;
      return Object.assign(Object.create(handle) as typeof handle, {
        writeFile: () =>
          Promise.reject(
            Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
          ),
        close: () => handle.close(),
      });
    });
    await expect(lock.tryAcquire()).rejects.toThrow(/ENOSPC/);
    spy.mockRestore();
    // An empty mutex would have held up every takeover for staleMs once room came back.
    expect((await fs.readdir(path.dirname(file))).sort()).toEqual(['delivery.lock']);
    expect(await lock.tryAcquire()).toBe(true);
  });

  it("never removes another contender's takeover mutex when its own create fails", async () => {
    const file = lockFile();
    await writeLock(file, 99_999_999, 0);
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    const mutex = `${file}.takeover`;
    const theirs = JSON.stringify({
      pid: process.ppid,
      host: os.hostname(),
      token: 'theirs',
      acquiredAtMs: 0,
    });
    const realOpen = fs.open.bind(fs);
    // Another process creates its mutex; our create fails for a reason of our own (EMFILE).
    const spy = vi.spyOn(fs, 'open').mockImplementation(async (target, flags, mode) => {
      if (!String(target).endsWith('.takeover')) return realOpen(target, flags, mode);
      await fs.writeFile(mutex, theirs);
      throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE' });
    });
    await expect(lock.tryAcquire()).rejects.toThrow(/EMFILE/);
    spy.mockRestore();
    expect(await fs.readFile(mutex, 'utf8')).toBe(theirs);
  });

  it('respects the lock of a live process until its heartbeat was seen unchanged for staleMs', async () => {
    const file = lockFile();
    const clock = handClock();
    await writeLock(file, livePid, 1_000);
    const lock = new DirectoryLock(file, { staleMs: 5_000, monotonicNow: clock.now });
    expect(await lock.tryAcquire()).toBe(false);
    clock.advance(4_000);
    expect(await lock.tryAcquire()).toBe(false);
    // A heartbeat: the owner is alive, and the watch starts again from when it is seen.
    await setHeartbeat(file, Date.now());
    clock.advance(2_000);
    expect(await lock.tryAcquire()).toBe(false);
    clock.advance(4_000);
    expect(await lock.tryAcquire()).toBe(false);
    clock.advance(1_001); // pid reused, or the owner frozen or hung that long
    expect((await lock.inspect())?.stale).toBe(true);
    expect(await lock.tryAcquire()).toBe(true);
  });

  it('a heartbeat older than staleMs by the wall clock alone is no reason to take over a live owner (a clock stepped forward)', async () => {
    const file = lockFile();
    const clock = handClock();
    await writeLock(file, livePid, 0);
    // The holder is mid-send; the system clock steps an hour ahead; a new process starts.
    const steppedAt = Date.now() + 3_600_000;
    vi.spyOn(Date, 'now').mockImplementation(() => steppedAt);
    // The live holder goes on refreshing its heartbeat, now on the stepped clock.
    let beat = 0;
    const holder = setInterval(() => void setHeartbeat(file, steppedAt + ++beat * 1000), 20);
    try {
      const contender = new DirectoryLock(file, {
        staleMs: 30_000,
        heartbeatMs: 60,
        monotonicNow: clock.now,
      });
      expect((await contender.inspect())?.stale).toBe(false);
      expect(await contender.tryAcquire()).toBe(false);
      clock.advance(29_000);
      expect(await contender.tryAcquire()).toBe(false);
    } finally {
      clearInterval(holder);
    }
    // A holder frozen or hung for staleMs is still taken over.
    const contender = new DirectoryLock(file, { staleMs: 30_000, heartbeatMs: 60, monotonicNow: clock.now });
    expect(await contender.tryAcquire()).toBe(false);
    clock.advance(30_001);
    expect(await contender.tryAcquire()).toBe(true);
  });

  it("watches a wall-stale lock for 2.5 of its owner's heartbeats as written in it, not of its own (a CLI beside an app tuned slower)", async () => {
    const file = lockFile();
    await fs.writeFile(
      file,
      JSON.stringify({
        pid: livePid,
        host: os.hostname(),
        token: 'slow-app',
        acquiredAtMs: 0,
        heartbeatMs: 400,
      }),
    );
    await setHeartbeat(file, Date.now() - 60_000);
    // The owner, alive, refreshes every 300 ms: slower than this contender's own 2.5 × 40 ms.
    const holder = setInterval(() => void setHeartbeat(file, Date.now()), 300);
    try {
      const contender = new DirectoryLock(file, { staleMs: 30_000, heartbeatMs: 40 });
      expect(await contender.tryAcquire()).toBe(false);
    } finally {
      clearInterval(holder);
    }
    const written = new DirectoryLock(lockFile(), { staleMs: 30_000, heartbeatMs: 1_234 });
    expect(await written.tryAcquire()).toBe(true);
    expect(JSON.parse(await fs.readFile(written.file, 'utf8'))).toMatchObject({ heartbeatMs: 1_234 });
  });

  it("a holder trusts its lock without reading it for one heartbeat only (it would keep sending after a contender's watch took it over)", async () => {
    const file = lockFile();
    const clock = handClock();
    const holder = new DirectoryLock(file, { staleMs: 30_000, heartbeatMs: 2_000, monotonicNow: clock.now });
    expect(await holder.tryAcquire()).toBe(true);
    await writeLock(file, livePid, 0); // taken over meanwhile
    clock.advance(1_000);
    expect(await holder.stillHeld()).toBe(true);
    clock.advance(1_001);
    expect(await holder.stillHeld()).toBe(false);
  });

  it("an app's watch of a wall-stale lock does not keep the process alive; the CLI's does", async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (const keepAliveWhileWatching of [false, true]) {
      const file = lockFile();
      await writeLock(file, livePid, 60_000);
      const before = timers();
      const lock = new DirectoryLock(file, { staleMs: 30_000, heartbeatMs: 40, keepAliveWhileWatching });
      const watching = lock.inspect({ confirm: true });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect([keepAliveWhileWatching, timers() - before]).toEqual([
        keepAliveWhileWatching,
        keepAliveWhileWatching ? 1 : 0,
      ]);
      expect((await watching)?.stale).toBe(true);
    }
  });

  it('a contender that looks once (a CLI run) takes over the lock of a live pid whose heartbeat is older than staleMs once it stayed unchanged for 2.5 heartbeats (an owner stopped with Ctrl-Z, hung, or a reused pid)', async () => {
    const file = lockFile();
    await writeLock(file, livePid, 2 * 86_400_000);
    // Without waiting for it, as status shows it:
    expect((await new DirectoryLock(file, { staleMs: 30_000 }).inspect())?.stale).toBe(false);
    const contender = new DirectoryLock(file, { staleMs: 30_000, heartbeatMs: 40 });
    expect((await contender.inspect({ confirm: true }))?.stale).toBe(true);
    expect(await new DirectoryLock(file, { staleMs: 30_000, heartbeatMs: 40 }).tryAcquire()).toBe(true);
  });

  it("a heartbeat far in the future holds nothing up: another host's lock at once, a reused pid's after staleMs", async () => {
    const dayMs = 86_400_000;
    const elsewhere = lockFile();
    await writeLock(elsewhere, livePid, -dayMs, undefined, `not-${os.hostname()}`);
    expect(await new DirectoryLock(elsewhere, { staleMs: 30_000 }).tryAcquire()).toBe(true);

    const here = lockFile();
    const clock = handClock();
    await writeLock(here, livePid, -dayMs);
    const lock = new DirectoryLock(here, { staleMs: 30_000, monotonicNow: clock.now });
    expect(await lock.tryAcquire()).toBe(false);
    clock.advance(30_001);
    expect(await lock.tryAcquire()).toBe(true);
  });

  it("respects another host's lock while its heartbeat is within staleMs of now, either side", async () => {
    const host = `not-${os.hostname()}`;
    for (const ageMs of [20_000, -20_000]) {
      const file = lockFile();
      await writeLock(file, livePid, ageMs, undefined, host);
      expect(await new DirectoryLock(file, { staleMs: 30_000 }).tryAcquire()).toBe(false);
    }
    const file = lockFile();
    await writeLock(file, livePid, 31_000, undefined, host);
    expect(await new DirectoryLock(file, { staleMs: 30_000 }).tryAcquire()).toBe(true);
  });

  it('takes over at once a fresh lock with our own pid and thread that nobody here holds (a container runs each CLI as pid 1)', async () => {
    const file = lockFile();
    await writeLock(file, process.pid, 0, threadId);
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    expect((await lock.inspect())?.stale).toBe(true);
    expect(await lock.tryAcquire()).toBe(true);
    // Held now: another instance in this thread sees it as live, not as a predecessor's.
    const other = new DirectoryLock(file, { staleMs: 60_000 });
    expect((await other.inspect())?.stale).toBe(false);
    expect(await other.tryAcquire()).toBe(false);
    await lock.release();
    expect(await other.tryAcquire()).toBe(true);
  });

  it("respects a lock of another thread of this process (its own instances are not this thread's)", async () => {
    const file = lockFile();
    await writeLock(file, process.pid, 0, threadId + 1_000);
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    expect(await lock.tryAcquire()).toBe(false);
  });

  it('takes over at once a lock of a thread of this process that is gone, when the lock says its thread answers (a Worker ended with terminate())', async () => {
    const file = lockFile();
    // Thread ids are never reused, and none this high was started here.
    const gone = {
      pid: process.pid,
      host: os.hostname(),
      token: 'gone',
      acquiredAtMs: 0,
      thread: 1_000_000,
      heartbeatMs: 20,
    };
    await fs.writeFile(file, JSON.stringify({ ...gone, threadProbes: true }));
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    // A probe alone starts a watch of its heartbeat (2.5 beats): a live thread whose listener
    // was removed looks gone to a probe too, but its heartbeat goes on.
    expect((await lock.inspect())?.stale).toBe(false);
    expect((await lock.inspect({ confirm: true }))?.stale).toBe(true);
    expect(await lock.tryAcquire()).toBe(true);
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toMatchObject({
      thread: threadId,
      threadProbes: true,
    });
    await lock.release();
    // A lock of an older version, whose thread never answered, waits for its heartbeat as before.
    await fs.writeFile(file, JSON.stringify(gone));
    expect(await lock.tryAcquire()).toBe(false);
  });

  it('clears a takeover mutex left by a thread of this process that is gone', async () => {
    const file = lockFile();
    await writeLock(file, 99_999_999, 0);
    await fs.writeFile(
      `${file}.takeover`,
      JSON.stringify({
        pid: process.pid,
        host: os.hostname(),
        token: 't',
        thread: 1_000_000,
        threadProbes: true,
      }),
    );
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    expect(await lock.tryAcquire()).toBe(true);
    expect(await fs.readdir(path.dirname(file))).toEqual(['delivery.lock']);
  });

  it('lets exactly one of many contenders in this thread take over a lock a predecessor with our pid left', async () => {
    for (let round = 0; round < 25; round++) {
      const file = lockFile();
      await writeLock(file, process.pid, 0, threadId);
      const contenders = Array.from({ length: 8 }, () => new DirectoryLock(file, { staleMs: 60_000 }));
      const won = await Promise.all(contenders.map((c) => c.tryAcquire()));
      expect(won.filter(Boolean).length).toBe(1);
      const verified = await Promise.all(contenders.map((c) => c.verify()));
      expect(verified.filter(Boolean).length).toBe(1);
      await Promise.all(contenders.map((c) => c.release()));
      expect(await fs.readdir(path.dirname(file))).toEqual([]);
    }
  });

  it('lets exactly one of many contenders take over a stale lock', async () => {
    // Repeated, since a lost race shows only now and then.
    for (let round = 0; round < 25; round++) {
      const file = lockFile();
      await writeLock(file, 99_999_999, 0);
      const contenders = Array.from({ length: 8 }, () => new DirectoryLock(file, { staleMs: 60_000 }));
      const won = await Promise.all(contenders.map((c) => c.tryAcquire()));
      expect(won.filter(Boolean).length).toBe(1);
      const verified = await Promise.all(contenders.map((c) => c.verify()));
      expect(verified.filter(Boolean).length).toBe(1);
      expect((await fs.readdir(path.dirname(file))).filter((n) => n !== 'delivery.lock')).toEqual([]);
    }
  });

  it('a full disk fails the attempt and leaves no empty temp file behind', async () => {
    const file = lockFile();
    const writeFile = fs.writeFile.bind(fs);
    const spy = vi.spyOn(fs, 'writeFile').mockImplementation(async (target, data, options) => {
      // As a full disk does: the file is created, the write fails.
      await writeFile(target, '', options as never);
      void data;
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    });
    const lock = new DirectoryLock(file, { staleMs: 10_000 });
    for (let i = 0; i < 3; i++) await expect(lock.tryAcquire()).rejects.toThrow(/ENOSPC/);
    spy.mockRestore();
    expect(await fs.readdir(path.dirname(file))).toEqual([]);
    // Room again: the next attempt takes it.
    expect(await lock.tryAcquire()).toBe(true);
  });

  it('clears a takeover mutex left by a process that died during a takeover', async () => {
    const file = lockFile();
    await writeLock(file, 99_999_999, 0);
    await fs.writeFile(
      `${file}.takeover`,
      JSON.stringify({ pid: 99_999_999, host: os.hostname(), token: 't' }),
    );
    const lock = new DirectoryLock(file, { staleMs: 60_000 });
    expect(await lock.tryAcquire()).toBe(true);
    expect(await fs.readdir(path.dirname(file))).toEqual(['delivery.lock']);
  });

  it('a holder whose lock was taken over finds out on verify and heartbeat, and does not delete the new lock', async () => {
    const file = lockFile();
    const clock = handClock();
    const first = new DirectoryLock(file, { staleMs: 1_000, monotonicNow: clock.now });
    expect(await first.tryAcquire()).toBe(true);
    const second = new DirectoryLock(file, { staleMs: 1_000, monotonicNow: clock.now });
    expect(await second.tryAcquire()).toBe(false);
    clock.advance(1_001); // first froze past staleMs: no heartbeat
    expect(await second.tryAcquire()).toBe(true);
    expect(await first.heartbeat()).toBe(false);
    expect(first.held).toBe(false);
    await first.release();
    expect(await second.verify()).toBe(true);
  });

  it.each([
    ['garbage', async (file: string) => fs.writeFile(file, 'garbage')],
    ['an empty file', async (file: string) => fs.writeFile(file, '')],
    ['JSON of no owner', async (file: string) => fs.writeFile(file, '{"pid":"x"}')],
    ['a directory', async (file: string) => fs.mkdir(path.join(file, 'inside'), { recursive: true })],
  ])(
    'takes %s in place of the lock for garbage a second after it appeared, not after staleMs',
    async (_, make) => {
      const file = lockFile();
      await make(file);
      const lock = new DirectoryLock(file, { staleMs: 60_000 });
      // Just appeared: perhaps still being written by something; left alone.
      expect(await lock.tryAcquire()).toBe(false);
      const old = new Date(Date.now() - 1_500);
      await fs.utimes(file, old, old);
      expect((await lock.inspect())?.stale).toBe(true);
      expect(await lock.tryAcquire()).toBe(true);
      expect(JSON.parse(await fs.readFile(file, 'utf8')).pid).toBe(process.pid);
      // Nothing of it is left beside the lock.
      expect((await fs.readdir(path.dirname(file))).sort()).toEqual(['delivery.lock']);
    },
  );

  it.each([
    ['dangling', 'nowhere'],
    ['to a lock owner of its own', 'elsewhere.lock'],
  ])(
    'takes a symlink (%s) in place of the lock as no lock of ours, a second after it appeared',
    async (_, to) => {
      // QA: the lock was looked at through the link (`stat`): a dangling one read as no lock, and the
      // create then failed with EEXIST at every try, so delivery never started.
      const file = lockFile();
      const target = path.join(path.dirname(file), to);
      if (to !== 'nowhere')
        await fs.writeFile(target, JSON.stringify({ pid: process.pid, host: os.hostname(), token: 't' }));
      await fs.symlink(target, file);
      const old = new Date(Date.now() - 1_500);
      await fs.lutimes(file, old, old);
      const lock = new DirectoryLock(file, { staleMs: 60_000 });
      expect((await lock.inspect())?.stale).toBe(true);
      expect(await lock.tryAcquire()).toBe(true);
      expect((await fs.lstat(file)).isFile()).toBe(true);
      expect(JSON.parse(await fs.readFile(file, 'utf8')).pid).toBe(process.pid);
      // What the link pointed at is not ours to remove.
      expect((await fs.readdir(path.dirname(file))).sort()).toEqual(
        to === 'nowhere' ? ['delivery.lock'] : ['delivery.lock', to],
      );
    },
  );
});
