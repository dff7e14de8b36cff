import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SqliteStore } from '@homing/server';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

// The real `homing serve`, as `npm start` runs it: the built CLI in its own process, so signals,
// exit codes and what is left on disk are the ones an operator gets.
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
const run = promisify(execFile);

function output(stream: NodeJS.ReadableStream): { text(): string; waitFor(re: RegExp): Promise<string> } {
  let text = '';
  const waiters: { re: RegExp; resolve: (m: string) => void }[] = [];
  stream.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of [...waiters]) {
      const m = w.re.exec(text);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m[1] ?? m[0]);
      }
    }
  });
  return {
    text: () => text,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const m = re.exec(text);
        if (m) return resolve(m[1] ?? m[0]);
        waiters.push({ re, resolve });
        // Only there so a hang reports what the child printed instead of a bare test timeout.
        setTimeout(() => reject(new Error(`never printed ${re}; printed:\n${text}`)), 8000).unref();
      }),
  };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

describe('homing serve in its own process (built CLI)', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  beforeAll(() => {
    if (!existsSync(bin)) {
      throw new Error(`${bin} is missing: build the CLI first (npx tsc -b packages/server packages/cli)`);
    }
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-serve-proc-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  it('on SIGINT finishes the request in flight, keeps what it accepted, closes SQLite cleanly and exits 0', async () => {
    const dataDir = await tempDir();
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const out = output(child.stdout!);
    const err = output(child.stderr!);
    try {
      const url = await out.waitFor(/Homing is listening on (http:\S+)/);
      const writeKey = await out.waitFor(/write key[^:]*: (hw_\S+)/);

      const before = await fetch(`${url}/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify([{ event: 'before.signal', distinct_id: 'd' }]),
      });
      expect(before.status).toBe(202);

      // A request whose body is still arriving when the signal comes: in flight.
      const body = JSON.stringify([{ event: 'in.flight', distinct_id: 'd' }]);
      const half = Math.floor(body.length / 2);
      const { port } = new URL(url);
      const req = request({
        host: '127.0.0.1',
        port: Number(port),
        method: 'POST',
        path: '/ingest',
        headers: {
          authorization: `Bearer ${writeKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      });
      const answered = new Promise<{ status: number; body: string }>((resolveAnswer, rejectAnswer) => {
        req.on('error', rejectAnswer);
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, body: text }));
        });
      });
      req.write(body.slice(0, half));
      // Let the server read the headers and route the request before the signal.
      await new Promise((r) => setTimeout(r, 200));

      const signalled = Date.now();
      child.kill('SIGINT');
      await out.waitFor(/shutting down/);
      req.end(body.slice(half));
      const answer = await answered;
      expect(answer.status).toBe(202);
      expect(JSON.parse(answer.body)).toMatchObject({ accepted: 1 });

      expect(await exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(5000);
      expect(out.text()).toMatch(/"msg":"shut down"/);

      // A clean close checkpoints SQLite's write-ahead log into the database: nothing left in a
      // -wal file (an unclean exit leaves the committed events there).
      const wal = readdirSync(dataDir).filter((f) => f.endsWith('-wal'));
      for (const f of wal) expect({ f, size: statSync(join(dataDir, f)).size }).toEqual({ f, size: 0 });

      const store = new SqliteStore({ dataDir });
      cleanup.push(() => store.close());
      await store.migrate();
      const [project] = await store.listProjects();
      const events = await store.queryEvents({ projectId: project!.id, limit: 10 });
      expect(events.map((e) => e.event).sort()).toEqual(['before.signal', 'in.flight']);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nchild stderr: ${err.text()}`, { cause: e });
    }
  }, 15_000);

  it("npm start's script hands SIGTERM (docker stop, a supervisor) to the server, which shuts down: no orphan left listening", async () => {
    const root = resolve(dirname(bin), '../../..');
    const script = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    // The build step aside (the test runs on the built CLI), the script as npm runs it: sh -c.
    const command = script.replace('npm run build --silent', 'true');
    expect(command).not.toBe(script);
    const dataDir = await tempDir();
    const child = spawn('sh', ['-c', command], {
      cwd: root,
      env: { ...process.env, HOMING_PORT: '0', HOMING_DATA_DIR: dataDir, HOMING_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const out = output(child.stdout!);
    const url = await out.waitFor(/Homing is listening on (http:\S+)/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // What npm does on SIGTERM: signal its child, the shell.
    child.kill('SIGTERM');
    await exited;
    await out.waitFor(/"msg":"shut down"/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 15_000);

  it('--cors-origins app.example.com exits 2 with the origin that would match, and listens on nothing', async () => {
    const dataDir = join(await tempDir(), 'data');
    const port = await freePort();
    const failed = await run(process.execPath, [
      bin,
      'serve',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      '--cors-origins',
      'app.example.com',
    ]).then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(failed).toMatchObject({ code: 2 });
    expect(failed!.stderr).toContain(
      'error: --cors-origins has "app.example.com", which a browser never sends as its Origin',
    );
    expect(failed!.stderr).toContain('did you mean https://app.example.com?');
    expect(failed!.stdout).not.toContain('listening');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('empty HOMING_CORS_ORIGINS, empty --data-dir and an out-of-range --retention-days exit 2, creating nothing', async () => {
    const cwd = await tempDir();
    const port = String(await freePort());
    const env = { ...process.env };
    delete env.HOMING_CORS_ORIGINS;
    delete env.HOMING_DATA_DIR;
    delete env.HOMING_DATABASE_URL;
    const cases: { args: string[]; env?: Record<string, string>; error: string; hint: string }[] = [
      {
        args: ['--data-dir', join(cwd, 'data')],
        env: { HOMING_CORS_ORIGINS: '' },
        error: 'error: --cors-origins names no origin, got "" (from HOMING_CORS_ORIGINS)',
        hint: "hint: pass --cors-origins '*' to accept every origin",
      },
      {
        args: ['--data-dir', ''],
        error: 'error: --data-dir names no directory, got ""',
        hint: 'hint: pass --data-dir <dir> (default ./.homing), or unset HOMING_DATA_DIR',
      },
      {
        args: ['--data-dir', join(cwd, 'data'), '--retention-days', '1000000000'],
        error:
          'error: invalid --retention-days (retention option retentionDays: is beyond the representable date range)',
        hint: 'hint: pass --retention-days <days> or set HOMING_RETENTION_DAYS',
      },
    ];
    for (const c of cases) {
      const failed = await run(process.execPath, [bin, 'serve', '--port', port, ...c.args], {
        cwd,
        env: { ...env, ...c.env },
        // Only there so a server that starts after all ends the test instead of hanging it.
        timeout: 20_000,
      }).then(
        () => null,
        (e: { code: number | null; stdout: string; stderr: string }) => e,
      );
      expect(failed, c.error).toMatchObject({ code: 2 });
      expect(failed!.stderr).toContain(c.error);
      expect(failed!.stderr).toContain(c.hint);
      expect(failed!.stdout).not.toContain('listening');
      expect(readdirSync(cwd), c.error).toEqual([]);
    }
  }, 60_000);

  it('HOMING_MAX_BATCH_EVENTS caps the events of one request: more are refused with 413 naming the option', async () => {
    const dataDir = await tempDir();
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOMING_MAX_BATCH_EVENTS: '2' },
    });
    cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
    const out = output(child.stdout!);
    const url = await out.waitFor(/Homing is listening on (http:\S+)/);
    const writeKey = await out.waitFor(/write key[^:]*: (hw_\S+)/);
    const send = (n: number) =>
      fetch(`${url}/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(
          Array.from({ length: n }, (_, i) => ({ event: 'capped', distinct_id: `d${i}` })),
        ),
      });
    const over = await send(3);
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({
      error: 'too-large',
      message: expect.stringMatching(/over the limit of 2 events per request.*--max-batch-events/),
    });
    const exact = await send(2);
    expect(exact.status).toBe(202);
    expect(await exact.json()).toMatchObject({ accepted: 2 });
  }, 15_000);

  // Node's recursive mkdir never returns under /proc (mkdir answers ENOENT there): serve hung.
  it.runIf(existsSync('/proc/self'))(
    '--data-dir under /proc exits 1 naming the directory instead of hanging',
    async () => {
      const failed = await run(
        process.execPath,
        [bin, 'serve', '--port', String(await freePort()), '--data-dir', '/proc/homing-test/data'],
        { timeout: 30_000 },
      ).then(
        () => null,
        (e: { code: number | null; signal: string | null; stdout: string; stderr: string }) => e,
      );
      expect(failed).toMatchObject({ code: 1, signal: null });
      expect(failed!.stderr).toContain('cannot create the data directory /proc/homing-test/data (ENOENT)');
      expect(failed!.stdout).not.toContain('listening');
    },
    60_000,
  );
});
