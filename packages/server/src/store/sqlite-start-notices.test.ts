import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BacklogNotice, type StoreNotice } from './sqlite-backlog-notice.js';
import { SERVER_PID_FILE } from './sqlite-server-pid.js';
import { openSqlite, tempDir, writeUnexpandedBacklog } from './sqlite.test-helpers.js';

describe('SqliteStore notices at start', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dir = (): string => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };

  it('tells how many events an earlier run left unexpanded, and when they are expanded', async () => {
    const dataDir = dir();
    const first = await openSqlite({ dataDir });
    const project = await first.createProject('p');
    await first.close();
    // What a SIGKILL leaves: rows in the log, none expanded.
    writeUnexpandedBacklog(dataDir, 800);
    const notices: StoreNotice[] = [];
    const again = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    try {
      expect(notices).toHaveLength(1);
      expect(notices[0]!.level).toBe('warn');
      expect(notices[0]!.message).toContain('earlier run left unexpanded');
      expect(notices[0]!.fields['events']).toBe(800);
      await again.drain();
      expect(notices[1]?.message).toContain('backlog from the earlier run is expanded');
      expect(await again.queryEvents({ projectId: project.id, limit: 1000 })).toHaveLength(800);
    } finally {
      await again.close();
    }
  });

  it('says nothing of a backlog when the log is empty', async () => {
    const dataDir = dir();
    await (await openSqlite({ dataDir })).close();
    const notices: StoreNotice[] = [];
    const again = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    await again.close();
    expect(notices).toEqual([]);
  });

  it('warns, naming its pid, when another live server serves the data directory', async () => {
    const dataDir = dir();
    // Another process on this machine that claimed the directory (its start time not recorded,
    // as where there is no /proc).
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    children.push(other);
    writeFileSync(
      join(dataDir, SERVER_PID_FILE),
      JSON.stringify({ pid: other.pid, host: hostname(), started: null, token: 'other' }),
    );
    const notices: StoreNotice[] = [];
    const store = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    await store.close();
    const warning = notices.find((n) => n.fields['otherPid'] !== undefined);
    expect(warning?.level).toBe('warn');
    expect(warning?.fields['otherPid']).toBe(other.pid);
    expect(warning?.message).toContain(`pid ${other.pid}`);
    // The other server's entry stays; this store's went with its close.
    expect(servers(dataDir).map((p) => p.token)).toEqual(['other']);
  });

  it('lists every server, so one started after the first stopped is warned of the second', async () => {
    const dataDir = dir();
    const sleeper = (): ChildProcess => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      children.push(child);
      return child;
    };
    const first = sleeper();
    // As an earlier version wrote it: one server.
    writeFileSync(
      join(dataDir, SERVER_PID_FILE),
      JSON.stringify({ pid: first.pid, host: hostname(), started: null, token: 'first' }),
    );
    const notices: StoreNotice[] = [];
    const second = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    expect(notices.map((n) => n.fields['otherPid'])).toEqual([first.pid]);
    // Only the first was in the file, so once it stopped a third server was warned of none.
    expect(servers(dataDir).map((p) => p.pid)).toEqual([first.pid, process.pid]);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    // The first is gone (killed: its entry stale): dropped by the next start.
    const again = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    expect(servers(dataDir).map((p) => p.pid)).toEqual([process.pid, process.pid]);
    await again.close();
    await second.close();
    expect(existsSync(join(dataDir, SERVER_PID_FILE))).toBe(false);
    // A file listing a gone server and a live one: the live one is named.
    const live = sleeper();
    writeFileSync(
      join(dataDir, SERVER_PID_FILE),
      JSON.stringify({
        servers: [
          { pid: first.pid, host: hostname(), started: null, token: 'gone' },
          { pid: live.pid, host: hostname(), started: null, token: 'live' },
        ],
      }),
    );
    const third = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    await third.close();
    expect(notices.map((n) => n.fields['otherPid'])).toEqual([first.pid, live.pid]);
    expect(servers(dataDir).map((p) => p.token)).toEqual(['live']);
  });

  it('takes a server killed but not yet reaped (a zombie) for gone: no warning of it', async () => {
    const dataDir = dir();
    // `sleep 60` is the child of a process that never waits for it: killed, it stays a zombie.
    const parent = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 61'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(parent);
    const pid = Number(
      await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d)))),
    );
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/\) Z /);
    writeFileSync(
      join(dataDir, SERVER_PID_FILE),
      JSON.stringify({ pid, host: hostname(), started: null, token: 'zombie' }),
    );
    const notices: StoreNotice[] = [];
    const store = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    expect(notices.filter((n) => n.fields['otherPid'] !== undefined)).toEqual([]);
    expect(servers(dataDir).map((p) => p.pid)).toEqual([process.pid]);
    await store.close();
  });

  it('takes over the file of a server that is gone, and removes it at close', async () => {
    const dataDir = dir();
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(
      join(dataDir, SERVER_PID_FILE),
      JSON.stringify({ pid: gone.pid, host: hostname(), started: null, token: 'gone' }),
    );
    const notices: StoreNotice[] = [];
    const store = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    expect(notices).toEqual([]);
    expect(servers(dataDir).map((p) => p.pid)).toEqual([process.pid]);
    // A second store of this same process is no other server.
    const second = await openSqlite({ dataDir, onNotice: (n) => notices.push(n) });
    await second.close();
    expect(notices).toEqual([]);
    await store.close();
    expect(existsSync(join(dataDir, SERVER_PID_FILE))).toBe(false);
  });
});

/** The servers `homing.pid` lists. */
function servers(dataDir: string): { pid: number; token: string }[] {
  return (
    JSON.parse(readFileSync(join(dataDir, SERVER_PID_FILE), 'utf8')) as {
      servers: { pid: number; token: string }[];
    }
  ).servers;
}

describe('BacklogNotice', () => {
  it('reports progress while the backlog drains, and stops at close', async () => {
    const notices: StoreNotice[] = [];
    const notice = new BacklogNotice(
      (n) => notices.push(n),
      () => 300,
      20,
    );
    notice.start(1000, 10);
    await new Promise((r) => setTimeout(r, 70));
    notice.stop();
    const progress = notices.filter((n) => n.fields['eventsLeft'] === 300);
    expect(progress.length).toBeGreaterThan(0);
    const seen = notices.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(notices).toHaveLength(seen);
  });
});
