import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTelemetry } from '@homing/client';
import { ensureDefaultProject, openStore, startServer, StoreError, type RunningServer } from '@homing/server';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../program.js';
import { captureIo, HOSTILE, RAW_CONTROL } from './commands.test-helpers.js';
import { runCommand } from './outboxCommand.js';
import { listProjectsCommand } from './projects.js';
import { addServeOptions } from './registerServe.js';
import {
  banner,
  keysCommand,
  serve,
  serveOptionsFromFlags,
  type ServeFlags,
  type ServeHandle,
} from './serve.js';

const run = promisify(execFile);

/** A port free right now: taken and released again. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

/** Whether something listens on the port: a server left open there would make listen fail. */
async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function flagsFor(dataDir: string, extra: Partial<ServeFlags> = {}): ServeFlags {
  const cmd = addServeOptions(new Command('serve')).exitOverride();
  cmd.parse([], { from: 'user' });
  return { ...(cmd.opts() as ServeFlags), port: '0', dataDir, logLevel: 'silent', ...extra };
}

describe('homing serve', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-serve-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  /** `tty`: stdout a terminal, as `npm start` in one; not one, as under systemd or docker. */
  const start = async (flags: ServeFlags, tty = false): Promise<{ handle: ServeHandle; out: string }> => {
    const io = captureIo(tty);
    const handle = await serve(flags, io, false);
    cleanup.push(() => handle.close());
    return { handle, out: io.out() };
  };

  it('on first start in a terminal creates a default project, prints its keys and a curl line that stores an event', async () => {
    const dir = await tempDir();
    const { handle, out } = await start(flagsFor(dir), true);
    expect(out).toContain(`Homing is listening on ${handle.running.url}`);
    expect(out).toMatch(/write key \(ingest only, safe in a browser\): hw_/);
    const { project } = await ensureDefaultProject(handle.running.store);
    expect(out).toContain(`admin key (queries, export, erasure; keep it secret): ${project.adminKey}`);
    const curl = /^\s+(curl -X POST .*)$/m.exec(out)?.[1];
    expect(curl).toBeDefined();
    // Run the printed line as a user would.
    const sent = await run('sh', ['-c', `${curl} -s -w ' %{http_code}'`]);
    expect(sent.stdout).toMatch(/"accepted":1.* 202$/);
    const see = /^\s+(curl -H 'Authorization: Bearer ha_.*)$/m.exec(out)?.[1];
    const seen = await run('sh', ['-c', `${see} -s`]);
    expect(seen.stdout).toContain('"event":"hello"');
  });

  it('prints the admin key only to a terminal: to a log it prints the command that shows it', async () => {
    const dir = await tempDir();
    const { handle, out } = await start(flagsFor(dir), false);
    const { project } = await ensureDefaultProject(handle.running.store);
    expect(out).not.toContain(project.adminKey);
    // The write key and the curl line that sends with it stay: a write key is public by design.
    expect(out).toContain(`write key (ingest only, safe in a browser): ${project.writeKey}`);
    const curl = /^\s+(curl -X POST .*)$/m.exec(out)?.[1];
    expect((await run('sh', ['-c', `${curl} -s`])).stdout).toContain('"accepted":1');
    // The command printed in the key's stead names this data directory, absolute, and prints it.
    const printed = /^\s+npx homing projects list --show-keys --data-dir (\S+)$/m.exec(out)?.[1];
    expect(printed).toBe(dir);
    const keys = captureIo();
    expect(await listProjectsCommand({ dataDir: printed, showKeys: true }, keys)).toBe(0);
    expect(keys.out()).toContain(project.adminKey);
    // With that key in place of ADMIN_KEY, the line that shows the event works.
    const see = /^\s+(curl -H 'Authorization: Bearer ADMIN_KEY' .*)$/m.exec(out)?.[1];
    const seen = await run('sh', ['-c', `${see!.replace('ADMIN_KEY', project.adminKey)} -s`]);
    expect(seen.stdout).toContain('"event":"hello"');
  });

  it("prints a project's name as text: no escape sequence of it reaches the terminal", async () => {
    const dir = await tempDir();
    // The first project, made by a script before serve ever ran, is the one serve shows.
    const store = await openStore({ dataDir: dir, projectsOnly: true });
    await store.createProject(`app ${HOSTILE}`);
    await store.close();
    const { out } = await start(flagsFor(dir), true);
    expect(out).toContain('Project "app \\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\x1b]52;c;ZWNobyBwd25lZA==\\x07');
    expect(out.replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
  });

  it('the command that shows the admin key names a PostgreSQL database without its password', () => {
    expect(
      keysCommand({ databaseUrl: 'postgres://homing:s3cret@db.internal:5432/homing?sslmode=require' }),
    ).toBe(
      "npx homing projects list --show-keys --database 'postgres://homing@db.internal:5432/homing?sslmode=require' (the password left out)",
    );
    expect(
      keysCommand({ databaseUrl: 'postgres://homing@127.0.0.1:5432/test?password=s3cret' }),
    ).not.toContain('s3cret');
    expect(keysCommand({ databaseUrl: 'postgres://127.0.0.1:5432/test' })).toBe(
      'npx homing projects list --show-keys --database postgres://127.0.0.1:5432/test',
    );
    expect(keysCommand({ dataDir: "/srv/my data/it's" })).toBe(
      `npx homing projects list --show-keys --data-dir '/srv/my data/it'\\''s'`,
    );
  });

  it('the printed curl line stores a new event each time it is run in a new second, not a duplicate', async () => {
    const dir = await tempDir();
    const { handle, out } = await start(flagsFor(dir));
    const curl = /^\s+(curl -X POST .*)$/m.exec(out)?.[1];
    const first = await run('sh', ['-c', `${curl} -s`]);
    expect(first.stdout).toContain('"accepted":1');
    // The line sends the time in whole seconds: run it again in the next second.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await run('sh', ['-c', `${curl} -s`]);
    expect(second.stdout).toContain('"accepted":1');
    const stored = await handle.running.store.queryEvents({
      projectId: (await ensureDefaultProject(handle.running.store)).project.id,
      event: 'hello',
      limit: 10,
    });
    expect(stored).toHaveLength(2);
  });

  it("the client SDK's homing destination delivers every event to it, end to end", async () => {
    const dir = await tempDir();
    const { handle } = await start(flagsFor(dir));
    const { project } = await ensureDefaultProject(handle.running.store);
    const telemetry = createTelemetry({
      endpoints: [{ destination: 'homing', host: handle.running.url, key: project.writeKey }],
      storage: 'memory',
      distinctId: 'sdk-user',
      respectDoNotTrack: false,
    });
    for (let i = 0; i < 30; i++) telemetry.track('sdk.used', { i });
    await telemetry.flush({ timeoutMs: 20_000 });
    await telemetry.shutdown({ timeoutMs: 20_000 });
    const stored = await handle.running.store.queryEvents({
      projectId: project.id,
      event: 'sdk.used',
      limit: 100,
    });
    expect(stored).toHaveLength(30);
    expect(new Set(stored.map((e) => e.properties.i)).size).toBe(30);
    expect(stored[0]!.distinctId).toBe('sdk-user');
  });

  it('a second start on the same data keeps the project and creates no other', async () => {
    const dir = await tempDir();
    const first = await start(flagsFor(dir));
    const key = /write key[^:]*: (hw_\S+)/.exec(first.out)?.[1];
    await first.handle.close();
    const second = await start(flagsFor(dir));
    expect(second.out).not.toContain('Created project');
    expect(second.out).toContain(key!);
    expect(await second.handle.running.store.listProjects()).toHaveLength(1);
  });

  it('a start that did not create the project prints the command that lists every key on this data directory', async () => {
    // Not ./.homing: the command without --data-dir would fail there ("No Homing data in …").
    const dir = await tempDir();
    const first = await start(flagsFor(dir));
    await first.handle.close();
    for (const tty of [false, true]) {
      const { handle, out } = await start(flagsFor(dir), tty);
      const { project } = await ensureDefaultProject(handle.running.store);
      // Runnable as printed from the repo, where `npm start` runs it and `homing` is not on PATH.
      const printed =
        /^\s+every project and key: npx homing projects list --show-keys --data-dir (\S+)$/m.exec(out)?.[1];
      expect(printed).toBe(dir);
      await handle.close();
      const keys = captureIo();
      expect(await listProjectsCommand({ dataDir: printed, showKeys: true }, keys)).toBe(0);
      expect(keys.out()).toContain(project.adminKey);
    }
  });

  it('on a PostgreSQL database, that command names the database, without its password', () => {
    const project = {
      id: 'p1',
      name: 'default',
      writeKey: 'hw_x',
      adminKey: 'ha_x',
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    const databaseUrl = 'postgres://homing:s3cret@db.internal:5432/homing';
    for (const showAdminKey of [false, true]) {
      const out = banner('http://127.0.0.1:8080', project, false, 'PostgreSQL', {
        showAdminKey,
        keysCommand: keysCommand({ databaseUrl }),
      });
      expect(out).toContain(
        '  every project and key: npx homing projects list --show-keys --database postgres://homing@db.internal:5432/homing (the password left out)\n',
      );
      expect(out).not.toContain('s3cret');
    }
  });

  it('says what to do when the port is taken or the database URL is wrong', async () => {
    const dir = await tempDir();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => blocker.close(() => r())));
    const port = String((blocker.address() as { port: number }).port);
    const io = captureIo();
    expect(await runCommand(io, () => serve(flagsFor(dir, { port }), io, false).then(() => 0))).toBe(1);
    expect(io.err()).toMatch(new RegExp(`port ${port} .* already in use.*--port / HOMING_PORT`));

    const io2 = captureIo();
    const bad = flagsFor(dir, { database: 'mysql://root@localhost/x' });
    expect(await runCommand(io2, () => serve(bad, io2, false).then(() => 0))).toBe(2);
    expect(io2.err()).toMatch(/unsupported database URL scheme "mysql:"/);
    expect(io2.err()).toMatch(/hint: use --database postgres:/);

    const io4 = captureIo();
    const forever = flagsFor(dir, { retentionDays: '200000000' });
    expect(await runCommand(io4, () => serve(forever, io4, false).then(() => 0))).toBe(2);
    expect(io4.err()).toMatch(/invalid --retention-days .*beyond the representable date range/);
    expect(io4.err()).toMatch(/HOMING_RETENTION_DAYS/);

    const io3 = captureIo();
    const down = flagsFor(dir, { database: 'postgres://nobody@127.0.0.1:1/none' });
    expect(await runCommand(io3, () => serve(down, io3, false).then(() => 0))).toBe(1);
    expect(io3.err()).toMatch(/hint: check that PostgreSQL runs/);
  });

  it('refuses a CORS origin no browser sends, with the form that matches, before opening anything', async () => {
    const dir = join(await tempDir(), 'data');
    const port = await freePort();
    for (const [bad, fixed] of [
      ['app.example.com', 'https://app.example.com'],
      ['https://app.example.com/', 'https://app.example.com'],
      ['https://ok.example,http://localhost:3000/app', 'http://localhost:3000'],
    ] as const) {
      const io = captureIo();
      const flags = flagsFor(dir, { port: String(port), corsOrigins: bad });
      expect(await runCommand(io, () => serve(flags, io, false).then(() => 0))).toBe(2);
      expect(io.err()).toContain('error: --cors-origins has "');
      expect(io.err()).toContain(`did you mean ${fixed}?`);
      expect(io.err()).toMatch(/hint: pass --cors-origins https:\/\/app\.example\.com.*HOMING_CORS_ORIGINS/);
      expect(io.out()).not.toContain('listening');
    }
    const io = captureIo();
    const star = flagsFor(dir, { port: String(port), corsOrigins: 'https://ok.example,*' });
    expect(await runCommand(io, () => serve(star, io, false).then(() => 0))).toBe(2);
    expect(io.err()).toMatch(/pass '\*' alone/);
    expect(await portIsFree(port)).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it('a failure after the server listens (default project) closes the server and its store before reporting', async () => {
    const dir = await tempDir();
    const port = await freePort();
    let started: RunningServer | undefined;
    let retentionStopped = false;
    const sigintListeners = process.listenerCount('SIGINT');
    // The real startServer, whose store then fails as a PostgreSQL connection lost at that moment would.
    const start: typeof startServer = async (options) => {
      started = await startServer(options);
      const stop = started.retention.stop.bind(started.retention);
      started.retention.stop = () => ((retentionStopped = true), stop());
      started.store.firstProjectOrCreate = () =>
        Promise.reject(new StoreError('unreachable', 'connection terminated unexpectedly'));
      return started;
    };
    const io = captureIo();
    const flags = flagsFor(dir, { port: String(port) });
    expect(await runCommand(io, () => serve(flags, io, true, start).then(() => 0))).toBe(1);
    expect(io.err()).toContain('connection terminated unexpectedly');
    expect(io.err()).toMatch(/hint: check that PostgreSQL runs/);
    expect(started).toBeDefined();
    expect(await portIsFree(port)).toBe(true);
    await expect(started!.store.ping()).rejects.toThrow(/closed/);
    expect(retentionStopped).toBe(true);
    // Nor were signal handlers left behind pointing at the closed server.
    expect(process.listenerCount('SIGINT')).toBe(sigintListeners);
  });

  it('a statement PostgreSQL cancelled at start (a lock held elsewhere) says where to look', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const start: typeof startServer = async (options) => {
      const started = await startServer(options);
      started.store.firstProjectOrCreate = () =>
        Promise.reject(
          new StoreError(
            'timeout',
            'PostgreSQL cancelled a statement (canceling statement due to statement timeout)',
          ),
        );
      return started;
    };
    const io = captureIo();
    expect(
      await runCommand(io, () => serve(flagsFor(dir, { port: String(port) }), io, true, start).then(() => 0)),
    ).toBe(1);
    expect(io.err()).toContain('cancelled a statement');
    expect(io.err()).toMatch(/hint: another session may hold a lock .*pg_locks/);
    expect(await portIsFree(port)).toBe(true);
  });

  // A shell expands `~` only at the start of a word: `--data-dir=~/x` and a quoted
  // HOMING_DATA_DIR='~/x' arrived as is and made a directory named `~` where serve was started.
  it('a --data-dir (or HOMING_DATA_DIR) starting with ~ or ~/ is under the home directory', () => {
    vi.stubEnv('HOME', '/home/someone');
    try {
      expect(serveOptionsFromFlags(flagsFor('~/homing-data')).dataDir).toBe('/home/someone/homing-data');
      expect(serveOptionsFromFlags(flagsFor('~')).dataDir).toBe('/home/someone');
      // Only a leading ~ is the home directory.
      expect(serveOptionsFromFlags(flagsFor('/srv/~x')).dataDir).toBe('/srv/~x');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('refuses bad option values naming the flag and its variable, exit code 2', () => {
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { port: '99999' }))).toThrow(
      /--port must be an integer/,
    );
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { retentionDays: '-1' }))).toThrow(
      /--retention-days/,
    );
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { maxBodyBytes: 'lots' }))).toThrow(
      /--max-body-bytes/,
    );
    // Number() would take these: hex, exponents, nothing at all.
    for (const v of ['0x10', '1e3', '', ' ', '12abc'])
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { maxBodyBytes: v })), v).toThrow(
        /--max-body-bytes must be an integer/,
      );
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { retentionDays: '0x5a' }))).toThrow(
      /--retention-days/,
    );
    expect(serveOptionsFromFlags(flagsFor('/tmp/x', { retentionDays: '0.5' })).retentionDays).toBe(0.5);
    // A timer delay over 2^31-1 ms would fire after 1 ms: a shutdown cutting requests at once.
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { shutdownGraceMs: '99999999999999' }))).toThrow(
      /--shutdown-grace-ms must be an integer from 0 to 2147483647/,
    );
    expect(serveOptionsFromFlags(flagsFor('/tmp/x', { shutdownGraceMs: '2147483647' })).shutdownGraceMs).toBe(
      2_147_483_647,
    );
    // Node times an idle socket a second past the keep-alive timeout: that must fit a timer too.
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { keepAliveTimeoutMs: '2147483647' }))).toThrow(
      /--keep-alive-timeout-ms must be an integer from 1 to 2147482647/,
    );
    expect(
      serveOptionsFromFlags(flagsFor('/tmp/x', { keepAliveTimeoutMs: '2147482647' })).keepAliveTimeoutMs,
    ).toBe(2_147_482_647);
    expect(serveOptionsFromFlags(flagsFor('/tmp/x')).closeExpandBudgetMs).toBe(10_000);
    expect(serveOptionsFromFlags(flagsFor('/tmp/x', { closeExpandBudgetMs: '0' })).closeExpandBudgetMs).toBe(
      0,
    );
    expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { closeExpandBudgetMs: '-1' }))).toThrow(
      /--close-expand-budget-ms must be an integer from 0 to 2147483647/,
    );
    // A small data disk lowers these two (see the store README); by default the store's defaults.
    expect(serveOptionsFromFlags(flagsFor('/tmp/x'))).toMatchObject({
      maxPendingEvents: 1_000_000,
      walAutocheckpointPages: 16_000,
    });
    expect(serveOptionsFromFlags(flagsFor('/tmp/x', { maxPendingEvents: '5000' })).maxPendingEvents).toBe(
      5000,
    );
    for (const v of ['0', '-1', '2.5', '100000001', 'lots'])
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { maxPendingEvents: v })), v).toThrow(
        /--max-pending-events must be an integer from 1 to 100000000/,
      );
    for (const v of ['0', '1000001', '1e3'])
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { walAutocheckpointPages: v })), v).toThrow(
        /--wal-autocheckpoint-pages must be an integer from 1 to 1000000/,
      );
    // A small machine or container lowers SQLite's page cache.
    expect(serveOptionsFromFlags(flagsFor('/tmp/x', { cacheSizeMib: '32' })).cacheSizeMiB).toBe(32);
    for (const v of ['0', '-1', '1.5', 'big'])
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { cacheSizeMib: v })), v).toThrow(
        /--cache-size-mib must be an integer from 1 to 1000000/,
      );
    // Bad input to the body budget: a clear error naming the flag.
    for (const v of ['0', 'lots', '1.5'])
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { maxBodyBytesInFlight: v })), v).toThrow(
        /--max-body-bytes-in-flight must be an integer/,
      );
    expect(
      serveOptionsFromFlags(flagsFor('/tmp/x', { maxBodyBytesInFlight: '20000000' })).maxBodyBytesInFlight,
    ).toBe(20_000_000);
    for (const v of ['0', '-5', '1.5', '1000001', '99999999999999999999'])
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { maxBatchEvents: v })), v).toThrow(
        /--max-batch-events must be an integer from 1 to 1000000/,
      );
    expect(serveOptionsFromFlags(flagsFor('/tmp/x')).maxBatchEvents).toBe(10_000);
    expect(serveOptionsFromFlags(flagsFor('/tmp/x', { maxBatchEvents: '1000000' })).maxBatchEvents).toBe(
      1_000_000,
    );
    const o = serveOptionsFromFlags(
      flagsFor('/tmp/x', { rateLimit: '0', corsOrigins: 'https://a.example, https://b.example' }),
    );
    expect(o.rateLimit).toBe(false);
    expect(o.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('refuses an empty or blank --cors-origins or --data-dir (flag or variable) with a hint, exit code 2', () => {
    const refusal = (extra: Partial<ServeFlags>): { message: string; hint?: string; exitCode?: number } => {
      try {
        serveOptionsFromFlags(flagsFor('/tmp/x', extra));
      } catch (e) {
        return e as { message: string; hint?: string; exitCode?: number };
      }
      throw new Error(`${JSON.stringify(extra)} was accepted`);
    };
    const saved = { cors: process.env.HOMING_CORS_ORIGINS, dir: process.env.HOMING_DATA_DIR };
    try {
      for (const corsOrigins of ['', ' , ', ',']) {
        const e = refusal({ corsOrigins });
        expect(e.message).toBe(`--cors-origins names no origin, got "${corsOrigins}"`);
        expect(e.hint).toMatch(/pass --cors-origins '\*' .*or list them .*unset HOMING_CORS_ORIGINS/);
        expect(e.exitCode).toBe(2);
      }
      process.env.HOMING_CORS_ORIGINS = '';
      expect(refusal({ corsOrigins: '' }).message).toContain('(from HOMING_CORS_ORIGINS)');
      delete process.env.HOMING_CORS_ORIGINS;

      for (const dataDir of ['', '  ']) {
        const e = refusal({ dataDir });
        expect(e.message).toBe(`--data-dir names no directory, got "${dataDir}"`);
        expect(e.hint).toMatch(/pass --data-dir <dir> \(default \.\/\.homing\), or unset HOMING_DATA_DIR/);
        expect(e.exitCode).toBe(2);
      }
      process.env.HOMING_DATA_DIR = '';
      expect(refusal({ dataDir: '' }).message).toContain('(from HOMING_DATA_DIR)');
      // With PostgreSQL no data directory is used, so an empty one is no mistake.
      expect(serveOptionsFromFlags(flagsFor('', { database: 'postgres://u@db:5432/h' })).databaseUrl).toBe(
        'postgres://u@db:5432/h',
      );
    } finally {
      for (const [k, v] of [
        ['HOMING_CORS_ORIGINS', saved.cors],
        ['HOMING_DATA_DIR', saved.dir],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('refuses a retention out of range before opening anything: no data directory is created', async () => {
    const dir = join(await tempDir(), 'data');
    for (const retentionDays of ['1000000000', '99999999999999999999']) {
      const io = captureIo();
      const flags = flagsFor(dir, { retentionDays });
      expect(await runCommand(io, () => serve(flags, io, false).then(() => 0))).toBe(2);
      expect(io.err()).toMatch(/invalid --retention-days .*beyond the representable date range/);
      expect(io.out()).not.toContain('listening');
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('a bad value from the environment names the variable; a URL as --host is refused with what to do', () => {
    const saved = { port: process.env.HOMING_PORT, host: process.env.HOMING_HOST };
    try {
      process.env.HOMING_PORT = 'abc';
      expect(() => serveOptionsFromFlags(flagsFor('/tmp/x', { port: 'abc' }))).toThrow(
        /got "abc" \(from HOMING_PORT\)/,
      );
      process.env.HOMING_HOST = 'http://127.0.0.1:8090';
      let error: unknown;
      try {
        serveOptionsFromFlags(flagsFor('/tmp/x', { host: 'http://127.0.0.1:8090' }));
      } catch (e) {
        error = e;
      }
      expect(String((error as Error).message)).toMatch(/not a URL.*\(from HOMING_HOST\)/);
      expect((error as { hint?: string }).hint).toContain('unset HOMING_HOST');
      expect((error as { exitCode?: number }).exitCode).toBe(2);
    } finally {
      for (const [k, v] of [
        ['HOMING_PORT', saved.port],
        ['HOMING_HOST', saved.host],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('an empty --host, one with a port, brackets or a space is refused naming its variable, exit code 2', () => {
    for (const [host, says] of [
      ['', 'names no address'],
      ['  ', 'names no address'],
      ['127.0.0.1:8080', 'holds a port'],
      ['[::1]', 'is an IPv6 address in brackets'],
      ['local host', 'holds a space'],
    ] as const) {
      vi.stubEnv('HOMING_HOST', host);
      let error: unknown;
      try {
        serveOptionsFromFlags(flagsFor('/tmp/x', { host }));
      } catch (e) {
        error = e;
      }
      expect(String((error as Error).message), host).toContain(`--host ${says}`);
      expect(String((error as Error).message), host).toContain('(from HOMING_HOST)');
      expect((error as { hint?: string }).hint, host).toMatch(/^fix or unset HOMING_HOST/);
      expect((error as { exitCode?: number }).exitCode).toBe(2);
    }
    vi.unstubAllEnvs();
    for (const host of ['::1', '::', '0.0.0.0', 'localhost', '127.0.0.1']) {
      expect(serveOptionsFromFlags(flagsFor('/tmp/x', { host })).host).toBe(host);
    }
  });

  it('reads every option from its environment variable', () => {
    const env = {
      HOMING_PORT: '9999',
      HOMING_HOST: '0.0.0.0',
      HOMING_DATA_DIR: '/srv/homing',
      HOMING_DATABASE_URL: 'postgres://u@db:5432/h',
      HOMING_RETENTION_DAYS: '30',
      HOMING_CORS_ORIGINS: 'https://app.example',
      HOMING_MAX_BODY_BYTES: '2000000',
      HOMING_MAX_BATCH_EVENTS: '250',
      HOMING_MAX_EVENT_BYTES: '5000',
      HOMING_RATE_LIMIT: '50',
      HOMING_RATE_LIMIT_BURST: '500',
      HOMING_REQUEST_TIMEOUT_MS: '15000',
      HOMING_SHUTDOWN_GRACE_MS: '2500',
      HOMING_KEEP_ALIVE_TIMEOUT_MS: '7000',
      HOMING_MAX_CONNECTIONS: '4000',
      HOMING_CLOSE_EXPAND_BUDGET_MS: '3000',
      HOMING_MAX_PENDING_EVENTS: '20000',
      HOMING_WAL_AUTOCHECKPOINT_PAGES: '1000',
      HOMING_LOG_LEVEL: 'warn',
    };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const cmd = addServeOptions(new Command('serve')).exitOverride();
      cmd.parse([], { from: 'user' });
      const o = serveOptionsFromFlags(cmd.opts() as ServeFlags);
      expect(o).toMatchObject({
        port: 9999,
        host: '0.0.0.0',
        dataDir: '/srv/homing',
        databaseUrl: 'postgres://u@db:5432/h',
        retentionDays: 30,
        corsOrigins: ['https://app.example'],
        maxBodyBytes: 2_000_000,
        maxBatchEvents: 250,
        maxEventBytes: 5000,
        rateLimit: { eventsPerSecond: 50, burst: 500 },
        requestTimeoutMs: 15_000,
        shutdownGraceMs: 2500,
        keepAliveTimeoutMs: 7000,
        maxConnections: 4000,
        closeExpandBudgetMs: 3000,
        maxPendingEvents: 20_000,
        walAutocheckpointPages: 1000,
        logLevel: 'warn',
      });
    } finally {
      process.env = saved;
    }
  });

  it('--help lists every option with its variable and default', () => {
    const serveCmd = buildProgram().commands.find((c) => c.name() === 'serve')!;
    const help = serveCmd.helpInformation().replace(/\s+/g, ' ');
    for (const v of [
      'HOMING_PORT',
      'HOMING_HOST',
      'HOMING_DATA_DIR',
      'HOMING_DATABASE_URL',
      'HOMING_RETENTION_DAYS',
      'HOMING_CORS_ORIGINS',
      'HOMING_MAX_BODY_BYTES',
      'HOMING_MAX_BATCH_EVENTS',
      'HOMING_MAX_EVENT_BYTES',
      'HOMING_RATE_LIMIT',
      'HOMING_REQUEST_TIMEOUT_MS',
      'HOMING_SHUTDOWN_GRACE_MS',
      'HOMING_KEEP_ALIVE_TIMEOUT_MS',
      'HOMING_MAX_CONNECTIONS',
      'HOMING_MAX_PENDING_EVENTS',
      'HOMING_WAL_AUTOCHECKPOINT_PAGES',
      'HOMING_LOG_LEVEL',
    ]) {
      expect(help).toContain(`env: ${v}`);
    }
    expect(help).toContain('--max-batch-events <events> most events one ingest request may carry');
    expect(help).toContain('default: "10000"');
    expect(help).toContain('default: "8090"');
    expect(help).toContain('default: "127.0.0.1"');
  });
});
