import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openStore } from '@homing/server';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import stringWidth from 'string-width';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureIo } from './commands.test-helpers.js';
import { removeProjectCommand } from './projectRemoval.js';
import { createProjectCommand, listProjectsCommand, maskKey, rotateKeysCommand } from './projects.js';
import { registerProjects } from './registerProjects.js';

const run = promisify(execFile);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'homing-projects-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function create(name: string, location: { dataDir?: string; database?: string }) {
  const io = captureIo();
  const code = await createProjectCommand(name, location, io);
  return { code, io, json: code === 0 ? (JSON.parse(io.out()) as Record<string, string>) : null };
}

describe('homing projects (SQLite)', () => {
  it('create prints { id, name, writeKey, adminKey }; the keys open the project with their roles', async () => {
    const dir = await dataDir();
    const { code, json, io } = await create('My app', { dataDir: dir });
    expect(code).toBe(0);
    // A first project makes the database: said, as a mistyped --data-dir makes one no server reads.
    expect(io.err()).toBe(
      `note: there was no Homing database in ${dir}, so a new one was made there; a "homing serve" using another --data-dir does not know this project\n`,
    );
    const second = await create('Other app', { dataDir: dir });
    expect(second.code).toBe(0);
    expect(second.io.err()).toBe('');
    // A create that fails after making the database says so too.
    const fresh = await dataDir();
    const bad = await create('   ', { dataDir: fresh });
    expect(bad.code).toBe(2);
    expect(bad.io.err()).toMatch(/^note: there was no Homing database in .*\nerror: /);
    expect(Object.keys(json!).sort()).toEqual(['adminKey', 'id', 'name', 'writeKey']);
    expect(json).toMatchObject({
      name: 'My app',
      writeKey: expect.stringMatching(/^hw_/),
      adminKey: expect.stringMatching(/^ha_/),
    });
    const store = await openStore({ dataDir: dir });
    try {
      expect(await store.findProjectByKey(json!.writeKey!)).toMatchObject({
        role: 'write',
        project: { id: json!.id },
      });
      expect(await store.findProjectByKey(json!.adminKey!)).toMatchObject({
        role: 'admin',
        project: { id: json!.id },
      });
    } finally {
      await store.close();
    }
  });

  it('list: a table with admin keys masked, --show-keys, and --json with every key', async () => {
    const dir = await dataDir();
    const a = (await create('alpha', { dataDir: dir })).json!;
    const b = (await create('beta\nnewline', { dataDir: dir })).json!;

    const table = captureIo();
    expect(await listProjectsCommand({ dataDir: dir }, table)).toBe(0);
    const text = table.out();
    const rows = text.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^ID\s+NAME\s+CREATED\s+WRITE KEY\s+ADMIN KEY$/);
    expect(rows[1]).toContain(a.id);
    expect(rows[1]).toContain('alpha');
    expect(rows[1]).toContain(a.writeKey);
    expect(rows[1]).toContain(maskKey(a.adminKey!));
    // Shown as an escape: one row still, and no line of its own.
    expect(rows[2]).toContain('beta\\nnewline');
    expect(text).not.toContain(a.adminKey);
    expect(text).not.toContain(b.adminKey);
    expect(text).toContain('--show-keys');

    const shown = captureIo();
    expect(await listProjectsCommand({ dataDir: dir, showKeys: true }, shown)).toBe(0);
    expect(shown.out()).toContain(a.adminKey);

    const json = captureIo();
    expect(await listProjectsCommand({ dataDir: dir, json: true }, json)).toBe(0);
    const listed = JSON.parse(json.out()) as Array<Record<string, string>>;
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatchObject({ ...a, createdAt: expect.any(String) });
    expect(listed[1]).toMatchObject(b);
  });

  it('list: the columns line up after a name in CJK, with a combining accent or with an emoji', async () => {
    const dir = await dataDir();
    // `café` with a combining acute (5 UTF-16 units, 4 columns), `テレメトリ` (5 units, 10
    // columns), an emoji (2 units, 2 columns).
    const names = ['plain', 'テレメトリ', 'cafe\u0301', '📈 metrics'];
    const made = [];
    for (const name of names) made.push((await create(name, { dataDir: dir })).json!);
    const table = captureIo();
    expect(await listProjectsCommand({ dataDir: dir }, table)).toBe(0);
    // The table, then a line on the masked keys.
    const [header, ...rows] = table
      .out()
      .trimEnd()
      .split('\n')
      .slice(0, names.length + 1);
    // The column a cell starts at on the terminal: the columns the text before it takes.
    const column = (line: string, cell: string): number => stringWidth(line.slice(0, line.indexOf(cell)));
    const writeKeyAt = column(header!, 'WRITE KEY');
    const createdAt = column(header!, 'CREATED');
    for (const [i, row] of rows.entries()) {
      expect(row, names[i]).toContain(made[i]!.writeKey);
      expect(column(row, made[i]!.writeKey!), names[i]).toBe(writeKeyAt);
      expect(column(row, row.slice(row.indexOf(names[i]!) + names[i]!.length).trimStart()), names[i]).toBe(
        createdAt,
      );
    }
  });

  it('a name with escape sequences (made by a script) cannot command the terminal: table, JSON and create', async () => {
    const dir = await dataDir();
    const hostile = 'x\u001b]0;owned\u0007\u001b[2J\u009b31m\u007fy';
    const made = await create(hostile, { dataDir: dir });
    expect(made.code).toBe(0);
    // Raw C0 is escaped by JSON itself; DEL and C1 are not, unless written as \u escapes.
    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
    expect(made.io.out()).not.toMatch(raw);
    expect(made.json!['name']).toBe(hostile);
    const table = captureIo();
    expect(await listProjectsCommand({ dataDir: dir }, table)).toBe(0);
    expect(table.out()).not.toMatch(raw);
    expect(table.out()).toContain('x\\x1b]0;owned\\x07\\x1b[2J\\u009b31m\\x7fy');
    const json = captureIo();
    expect(await listProjectsCommand({ dataDir: dir, json: true }, json)).toBe(0);
    expect(json.out()).not.toMatch(raw);
    expect((JSON.parse(json.out()) as Array<{ name: string }>)[0]!.name).toBe(hostile);
  });

  it('list on a directory without Homing data says so and creates nothing', async () => {
    const dir = join(await dataDir(), 'typo');
    const io = captureIo();
    expect(await listProjectsCommand({ dataDir: dir }, io)).toBe(1);
    expect(io.err()).toMatch(/No Homing data in .*typo/);
    expect(io.err()).toContain('hint: ');
    expect(existsSync(dir)).toBe(false);
  });

  it('counts a name in characters, not UTF-16 units: 200 emoji are a name', async () => {
    const dir = await dataDir();
    const name = '🚀'.repeat(200);
    const r = await create(name, { dataDir: dir });
    expect(r.code).toBe(0);
    expect(r.json?.['name']).toBe(name);
  });

  it('an empty store lists a hint to create one', async () => {
    const dir = await dataDir();
    await (await openStore({ dataDir: dir })).close();
    const io = captureIo();
    expect(await listProjectsCommand({ dataDir: dir }, io)).toBe(0);
    expect(io.out()).toContain('homing projects create NAME');
  });

  it('bad names, bad URLs and unreachable databases: clear errors and exit codes, nothing created', async () => {
    const dir = await dataDir();
    await create('kept', { dataDir: dir });
    for (const name of ['', '   ', 'n'.repeat(201), '🚀'.repeat(201)]) {
      const r = await create(name, { dataDir: dir });
      expect(r.code).toBe(2);
      expect(r.io.err()).toMatch(/^error: project name must be/);
      expect(r.io.out()).toBe('');
    }
    const mysql = await create('x', { dataDir: dir, database: 'mysql://root@127.0.0.1/db' });
    expect(mysql.code).toBe(2);
    expect(mysql.io.err()).toContain('unsupported database URL scheme');
    const down = await create('x', { dataDir: dir, database: 'postgres://postgres:s3cret@127.0.0.1:1/none' });
    expect(down.code).toBe(1);
    expect(down.io.err()).toContain('cannot reach PostgreSQL');
    expect(down.io.err()).not.toContain('s3cret');
    const notADir = join(dir, 'homing.db');
    const file = await create('x', { dataDir: notADir });
    expect(file.code).toBe(1);
    expect(file.io.err()).toMatch(/^error: /);
    const io = captureIo();
    await listProjectsCommand({ dataDir: dir, json: true }, io);
    expect((JSON.parse(io.out()) as unknown[]).map((p) => (p as { name: string }).name)).toEqual(['kept']);
  });

  it('an empty --data-dir (or HOMING_DATA_DIR) is refused, exit 2: no database in the current directory', async () => {
    const cwd = await dataDir();
    const was = process.cwd();
    process.chdir(cwd);
    try {
      for (const given of ['', '  ']) {
        const r = await create('x', { dataDir: given });
        expect(r.code).toBe(2);
        expect(r.io.err()).toContain(`--data-dir names no directory, got "${given}"`);
        expect(r.io.err()).toMatch(/hint: .*unset HOMING_DATA_DIR/);
        const io = captureIo();
        expect(await listProjectsCommand({ dataDir: given }, io)).toBe(2);
      }
      vi.stubEnv('HOMING_DATA_DIR', '');
      expect((await create('x', { dataDir: '' })).io.err()).toContain('(from HOMING_DATA_DIR)');
      vi.unstubAllEnvs();
      expect(existsSync(join(cwd, 'homing.db'))).toBe(false);
    } finally {
      process.chdir(was);
    }
  });

  it('a project created while a server has the store open is found by that server at once', async () => {
    const dir = await dataDir();
    const serving = await openStore({ dataDir: dir });
    cleanups.push(() => serving.close());
    const { json } = await create('live', { dataDir: dir });
    expect(await serving.findProjectByKey(json!.writeKey!)).toMatchObject({ role: 'write' });
  });

  it('list and create beside a server’s unexpanded backlog leave the backlog to the server', async () => {
    const dir = await dataDir();
    const server = await openStore({ dataDir: dir });
    await server.createProject('p');
    await server.close();
    // Events a server acknowledged and has not expanded yet: a row of its ingest log. (Written
    // here directly: a server's own worker would expand it before the command ran.)
    const key = randomBytes(16);
    const payload = ['', 'e', 'u', Date.parse('2026-01-01T00:00:00Z'), '', '2026-01-01T00:00:00.000Z', '{}']
      .map((f) => `\u0000${f}`)
      .join('');
    const log = new Database(join(dir, 'ingest-log.db'));
    log
      .prepare('INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (1, 1, ?, ?)')
      .run(key, payload);
    log.close();
    expect(await listProjectsCommand({ dataDir: dir }, captureIo())).toBe(0);
    expect((await create('q', { dataDir: dir })).code).toBe(0);
    const count = (file: string, table: string): number => {
      const db = new Database(join(dir, file), { readonly: true });
      try {
        return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      } finally {
        db.close();
      }
    };
    expect(count('ingest-log.db', 'ingest_log')).toBe(1);
    expect(count('homing.db', 'events')).toBe(0);
  });

  // A running server's expander takes homing.db's write lock again and again; SQLite's own busy
  // wait (5 s) gave up, and the command failed with "database is locked (storage)".
  it('beside a process holding the write lock a while, create and rotate-keys wait for it (said on a terminal) and succeed', async () => {
    const dir = await dataDir();
    expect((await create('first', { dataDir: dir })).code).toBe(0);
    const holder = await holdWriteLock(join(dir, 'homing.db'), 6_500);
    const io = captureIo(true);
    const wait = { budgetMs: 60_000, firstPauseMs: 100, maxPauseMs: 500 };
    expect(await createProjectCommand('second', { dataDir: dir }, io, wait)).toBe(0);
    expect(io.err()).toContain(
      `waiting for the database in ${dir}: another process (most likely a running homing serve) holds its write lock; trying again for up to 60 s (Ctrl-C to stop)`,
    );
    expect(JSON.parse(io.out())).toMatchObject({ name: 'second' });
    await holder.exited;
    const again = await holdWriteLock(join(dir, 'homing.db'), 6_500);
    const rotated = captureIo();
    expect(await rotateKeysCommand('first', { dataDir: dir }, rotated, wait)).toBe(0);
    // Not a terminal: the wait is not said.
    expect(rotated.err()).not.toContain('waiting');
    await again.exited;
    const listed = captureIo();
    expect(await listProjectsCommand({ dataDir: dir, json: true }, listed)).toBe(0);
    expect((JSON.parse(listed.out()) as { name: string }[]).map((p) => p.name).sort()).toEqual([
      'first',
      'second',
    ]);
  }, 60_000);

  it('a write lock held past the wait: exit 1 saying a running server holds the database and what to do; nothing changed', async () => {
    const dir = await dataDir();
    const first = await create('first', { dataDir: dir });
    const holder = await holdWriteLock(join(dir, 'homing.db'), 60_000);
    cleanups.push(async () => {
      holder.child.kill();
      await holder.exited;
    });
    const wait = { budgetMs: 1_000, firstPauseMs: 100, maxPauseMs: 500 };
    const io = captureIo();
    expect(await createProjectCommand('second', { dataDir: dir }, io, wait)).toBe(1);
    expect(io.err()).toMatch(
      /^error: the database in .* stayed locked by another process for \d+ s, most likely a running "homing serve" busy writing events into it; nothing was changed\nhint: try again in a moment .*or stop the server, run this, and start it again\n$/,
    );
    expect(io.err()).not.toContain('(storage)');
    const rotated = captureIo();
    expect(await rotateKeysCommand('first', { dataDir: dir, write: true }, rotated, wait)).toBe(1);
    expect(rotated.err()).toContain('stayed locked by another process');
    holder.child.kill();
    await holder.exited;
    const listed = captureIo();
    expect(await listProjectsCommand({ dataDir: dir, json: true }, listed)).toBe(0);
    expect(JSON.parse(listed.out())).toEqual([
      expect.objectContaining({ name: 'first', writeKey: first.json!.writeKey }),
    ]);
  }, 60_000);

  // A removal commits in many steps: run again from the top after a busy answer, it no longer
  // found by name the project its first run had marked removed, and stopped halfway saying so.
  it('remove cut short by a lock taken mid-way fails saying so, not "no project", and the id finishes it', async () => {
    const dir = await dataDir();
    const gone = await create('victim', { dataDir: dir });
    const dbPath = join(dir, 'homing.db');
    const db = new Database(dbPath);
    const pk = db.prepare('SELECT pk FROM projects WHERE id = ?').pluck().get(gone.json!.id);
    const insert = db.prepare(
      `INSERT INTO events (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
       VALUES (?, ?, ?, 'e', 'u', ?, NULL, '2026-01-01T00:00:00.000Z', '{}')`,
    );
    db.transaction(() => {
      for (let i = 0; i < 200_000; i++) insert.run(pk, randomBytes(16), randomUUID(), i);
    })();
    db.close();
    // Takes the write lock once the removal has marked the project removed, past SQLite's 5 s wait
    // (200 000 events: the removal's batches run for seconds, so it is cut mid-way, not after).
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const script = `
      const Database = require(${JSON.stringify(sqlite)});
      const db = new Database(${JSON.stringify(dbPath)});
      const marked = db.prepare('SELECT removed_at FROM projects WHERE pk = ?').pluck();
      const poll = setInterval(() => {
        if (marked.get(${Number(pk)}) == null) return;
        clearInterval(poll);
        db.exec('BEGIN IMMEDIATE');
        setTimeout(() => { db.exec('COMMIT'); db.close(); }, 7000);
      }, 2);
    `;
    const holder = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const exited = once(holder, 'exit');
    cleanups.push(async () => {
      holder.kill();
      await exited;
    });
    const io = captureIo();
    expect(await removeProjectCommand('victim', { dataDir: dir, yes: true }, io)).toBe(1);
    expect(io.err()).not.toContain('no project has');
    expect(io.err()).toContain('locked');
    await exited;
    const again = captureIo();
    expect(await removeProjectCommand(gone.json!.id!, { dataDir: dir, yes: true }, again)).toBe(0);
    const left = new Database(dbPath, { readonly: true });
    try {
      expect(left.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0);
    } finally {
      left.close();
    }
  }, 60_000);

  it('a --data-dir (or HOMING_DATA_DIR) starting with ~/ is under the home directory, not ./~', async () => {
    const home = await dataDir();
    const cwd = await dataDir();
    vi.stubEnv('HOME', home);
    const before = process.cwd();
    process.chdir(cwd);
    try {
      const made = await create('tilde', { dataDir: '~/homing-data' });
      expect(made.code).toBe(0);
      expect(existsSync(join(home, 'homing-data', 'homing.db'))).toBe(true);
      expect(existsSync(join(cwd, '~'))).toBe(false);
      const io = captureIo();
      expect(await listProjectsCommand({ dataDir: '~/homing-data', json: true }, io)).toBe(0);
      expect(JSON.parse(io.out())).toEqual([expect.objectContaining({ name: 'tilde' })]);
    } finally {
      process.chdir(before);
      vi.unstubAllEnvs();
    }
  });

  it('commander wiring: --data-dir, HOMING_DATA_DIR, --json, and the default ./.homing', async () => {
    const dir = await dataDir();
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const program = (): Command => {
      const p = new Command('homing').exitOverride();
      registerProjects(p);
      return p;
    };
    const previousCode = process.exitCode;
    try {
      await program().parseAsync(['node', 'homing', 'projects', 'create', 'via-flag', '--data-dir', dir]);
      vi.stubEnv('HOMING_DATA_DIR', dir);
      await program().parseAsync(['node', 'homing', 'projects', 'create', 'via-env']);
      await program().parseAsync(['node', 'homing', 'projects', 'list', '--json']);
      expect(process.exitCode).toBe(0);
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
      process.exitCode = previousCode;
    }
    const listed = JSON.parse(out[2]!) as Array<{ name: string }>;
    expect(listed.map((p) => p.name)).toEqual(['via-flag', 'via-env']);
    const help = program()
      .commands[0]!.commands.map((c) => c.helpInformation())
      .join('\n')
      .replace(/\s+/g, ' ');
    expect(help).toContain('(default: "./.homing", env: HOMING_DATA_DIR)');
    expect(help).toContain('env: HOMING_DATABASE_URL');
  });
});

function ev(i: number, distinctId = 'p') {
  const ts = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return {
    uuid: randomUUID(),
    event: 'e',
    distinctId,
    timestamp: ts,
    originalTimestamp: null,
    receivedAt: ts,
    properties: {},
  };
}

async function listed(location: {
  dataDir?: string;
  database?: string;
}): Promise<Array<Record<string, string>>> {
  const io = captureIo();
  expect(await listProjectsCommand({ ...location, json: true }, io)).toBe(0);
  return JSON.parse(io.out()) as Array<Record<string, string>>;
}

describe('homing projects rotate-keys and remove (SQLite)', () => {
  it('rotate-keys NAME: both keys by default, --write or --admin alone; the old ones find nothing', async () => {
    const dir = await dataDir();
    const before = (await create('app', { dataDir: dir })).json!;
    const both = captureIo();
    expect(await rotateKeysCommand('app', { dataDir: dir }, both)).toBe(0);
    const after = JSON.parse(both.out()) as Record<string, string>;
    expect(Object.keys(after).sort()).toEqual(['adminKey', 'id', 'name', 'writeKey']);
    expect(after).toMatchObject({ id: before.id, name: 'app' });
    expect(after.writeKey).toMatch(/^hw_/);
    expect(after.adminKey).toMatch(/^ha_/);
    expect(after.writeKey).not.toBe(before.writeKey);
    expect(after.adminKey).not.toBe(before.adminKey);
    expect(both.err()).toContain(
      'The old write key is refused from now on; a running homing serve refuses it within about a second',
    );
    expect(both.err()).toContain('The old admin key is refused from now on.');

    const write = captureIo();
    expect(await rotateKeysCommand(before.id!, { dataDir: dir, write: true }, write)).toBe(0);
    const w = JSON.parse(write.out()) as Record<string, string>;
    expect(w.adminKey).toBe(after.adminKey);
    expect(w.writeKey).not.toBe(after.writeKey);
    expect(write.err()).not.toContain('admin key');
    const admin = captureIo();
    expect(await rotateKeysCommand('app', { dataDir: dir, admin: true }, admin)).toBe(0);
    const a = JSON.parse(admin.out()) as Record<string, string>;
    expect(a.writeKey).toBe(w.writeKey);

    const store = await openStore({ dataDir: dir });
    try {
      for (const old of [before.writeKey!, before.adminKey!, after.writeKey!, after.adminKey!])
        expect(await store.findProjectByKey(old)).toBeNull();
      expect(await store.findProjectByKey(a.writeKey!)).toMatchObject({ role: 'write' });
      expect(await store.findProjectByKey(a.adminKey!)).toMatchObject({ role: 'admin' });
    } finally {
      await store.close();
    }
  });

  it('remove without --yes says what it would delete and removes nothing; with --yes deletes it all', async () => {
    const dir = await dataDir();
    const gone = (await create('old app', { dataDir: dir })).json!;
    const kept = (await create('kept', { dataDir: dir })).json!;
    const server = await openStore({ dataDir: dir });
    for (const id of [gone.id!, kept.id!]) {
      await server.insertEvents(
        id,
        Array.from({ length: 120 }, (_, i) => ev(i)),
      );
      await server.insertEvents(id, [ev(0, 'erase-me')]);
      await server.erasePerson(id, 'erase-me', 'operator');
    }
    await server.close();

    const asked = captureIo();
    expect(await removeProjectCommand('old app', { dataDir: dir }, asked)).toBe(2);
    expect(asked.out()).toBe('');
    expect(asked.err()).toContain(
      `Removing project "old app" (${gone.id}) deletes 120 events, 1 erasure log entry, 1 suppression entry, 1 erased key for good`,
    );
    expect(asked.err()).toContain('error: nothing was removed');
    expect(asked.err()).toContain(`hint: run it again with --yes to remove ${gone.id}`);
    expect((await listed({ dataDir: dir })).map((p) => p.name)).toEqual(['old app', 'kept']);

    const io = captureIo();
    expect(await removeProjectCommand('old app', { dataDir: dir, yes: true }, io)).toBe(0);
    expect(JSON.parse(io.out())).toEqual({
      id: gone.id,
      name: 'old app',
      deleted: { events: 120, erasures: 1, suppressions: 1, erasedKeys: 1, pendingEvents: 0 },
    });
    expect(io.err()).toContain(`Removing project "old app" (${gone.id}): its keys no longer work`);
    expect(io.err()).toContain('remove: 120/120 events deleted\n');
    expect(io.err()).toContain('Removed project "old app"');
    expect((await listed({ dataDir: dir })).map((p) => p.id)).toEqual([kept.id]);

    const store = await openStore({ dataDir: dir });
    try {
      expect(await store.findProjectByKey(gone.writeKey!)).toBeNull();
      expect(await store.findProjectByKey(gone.adminKey!)).toBeNull();
      expect(await store.queryEvents({ projectId: kept.id!, limit: 1000 })).toHaveLength(120);
      expect(await store.listErasures({ projectId: kept.id!, limit: 10 })).toHaveLength(1);
    } finally {
      await store.close();
    }
    const count = (table: string): number => {
      const db = new Database(join(dir, 'homing.db'), { readonly: true });
      try {
        return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      } finally {
        db.close();
      }
    };
    expect([count('events'), count('erasures'), count('suppressions'), count('erased_keys')]).toEqual([
      120, 1, 1, 1,
    ]);
  });

  it('remove: a bar on a terminal; events still in a server’s ingest log are counted and never stored', async () => {
    const dir = await dataDir();
    const gone = (await create('gone', { dataDir: dir })).json!;
    const server = await openStore({ dataDir: dir });
    await server.insertEvents(
      gone.id!,
      Array.from({ length: 300 }, (_, i) => ev(i)),
    );
    await server.queryEvents({ projectId: gone.id!, limit: 1 });
    await server.close();
    // Acknowledged by a server and not expanded yet (written here: a server would expand it first).
    const payload = [
      '',
      'late',
      'p',
      Date.parse('2026-01-01T00:00:00Z'),
      '',
      '2026-01-01T00:00:00.000Z',
      '{}',
    ]
      .map((f) => `\u0000${f}`)
      .join('');
    const log = new Database(join(dir, 'ingest-log.db'));
    log
      .prepare('INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (1, 1, ?, ?)')
      .run(randomBytes(16), payload);
    log.close();

    const io = captureIo(true);
    expect(await removeProjectCommand(gone.id!, { dataDir: dir, yes: true }, io)).toBe(0);
    expect(io.err()).toMatch(/\r\[#{30}\] 100% 300\/300 events deleted\n/);
    expect(JSON.parse(io.out())).toMatchObject({ deleted: { events: 300, pendingEvents: 1 } });

    const again = await openStore({ dataDir: dir });
    try {
      const next = await again.createProject('next');
      expect(await again.queryEvents({ projectId: next.id, limit: 10 })).toEqual([]);
    } finally {
      await again.close();
    }
    const db = new Database(join(dir, 'homing.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0);
    db.close();
  });

  it('a removal cut short is finished by its id; the project is no longer listed meanwhile', async () => {
    const dir = await dataDir();
    const gone = (await create('gone', { dataDir: dir })).json!;
    const store = await openStore({ dataDir: dir });
    await store.insertEvents(
      gone.id!,
      Array.from({ length: 500 }, (_, i) => ev(i)),
    );
    await store.queryEvents({ projectId: gone.id!, limit: 1 });
    await store
      .removeProject(gone.id!, { onProgress: () => void store.close() })
      .catch((err: unknown) => expect(err).toMatchObject({ kind: 'closed' }));
    expect(await listed({ dataDir: dir })).toEqual([]);
    // By name it is gone already; by its id the removal goes on.
    const byName = captureIo();
    expect(await removeProjectCommand('gone', { dataDir: dir, yes: true }, byName)).toBe(1);
    const io = captureIo();
    expect(await removeProjectCommand(gone.id!, { dataDir: dir, yes: true }, io)).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ id: gone.id, deleted: { events: 450 } });
    expect(await removeProjectCommand(gone.id!, { dataDir: dir, yes: true }, captureIo())).toBe(1);
  });

  it("create says at once when the name is taken, and refuses a name that is another project's id", async () => {
    const dir = await dataDir();
    const first = await create('shop', { dataDir: dir });
    expect(first.io.err()).toMatch(/^note: there was no Homing database in /);
    const second = await create('shop', { dataDir: dir });
    expect(second.code).toBe(0);
    expect(second.io.err()).toBe(
      `note: another project is named "shop" too (${first.json!.id}); commands that take a project need its id now\n`,
    );
    const third = await create('shop', { dataDir: dir });
    expect(third.io.err()).toContain(
      `note: 2 other projects are named "shop" too (${first.json!.id}, ${second.json!.id})`,
    );
    // Named after another project's id, it could never be found by its name, and `remove NAME`
    // would remove the other project.
    const clash = await create(` ${first.json!.id} `, { dataDir: dir });
    expect(clash.code).toBe(2);
    expect(clash.io.err()).toContain(`error: "${` ${first.json!.id} `}" is the id of another project`);
    expect(clash.io.err()).toContain('hint: choose another name');
    expect(clash.io.out()).toBe('');
    expect((await listed({ dataDir: dir })).map((p) => p.name)).toEqual(['shop', 'shop', 'shop']);
  });

  it('unknown projects, names two projects share, empty names: refused, nothing changed', async () => {
    const dir = await dataDir();
    const a = (await create('twin', { dataDir: dir })).json!;
    const b = (await create('twin', { dataDir: dir })).json!;
    const commands = {
      rotate: (given: string, io: ReturnType<typeof captureIo>) =>
        rotateKeysCommand(given, { dataDir: dir }, io),
      remove: (given: string, io: ReturnType<typeof captureIo>) =>
        removeProjectCommand(given, { dataDir: dir, yes: true }, io),
    };
    for (const run of Object.values(commands)) {
      const twin = captureIo();
      expect(await run('twin', twin)).toBe(2);
      expect(twin.err()).toContain(`error: 2 projects are named "twin": ${a.id} (created `);
      expect(twin.err()).toContain(`, ${b.id} (created `);
      expect(twin.err()).toContain('hint: name the one you mean by its id');
      const unknown = captureIo();
      expect(await run('no such app', unknown)).toBe(1);
      expect(unknown.err()).toContain('error: no project has the id or the name "no such app"');
      expect(unknown.err()).toContain('hint: homing projects list shows them');
      for (const empty of ['', '  ']) {
        const io = captureIo();
        expect(await run(empty, io)).toBe(2);
        expect(io.err()).toContain(`error: name the project by its id or its name, got "${empty}"`);
      }
      expect(twin.out() + unknown.out()).toBe('');
    }
    expect(await listed({ dataDir: dir })).toEqual([expect.objectContaining(a), expect.objectContaining(b)]);
    // By id, one of the two.
    expect(await commands.remove(b.id!, captureIo())).toBe(0);
    expect((await listed({ dataDir: dir })).map((p) => p.id)).toEqual([a.id]);
    // A directory without Homing data: nothing created there.
    const missing = join(dir, 'typo');
    const io = captureIo();
    expect(await rotateKeysCommand('twin', { dataDir: missing }, io)).toBe(1);
    expect(io.err()).toMatch(/No Homing data in .*typo/);
    expect(existsSync(missing)).toBe(false);
  });

  it('commander wiring: rotate-keys --write, remove --yes, and their help', async () => {
    const dir = await dataDir();
    const p = (await create('wired', { dataDir: dir })).json!;
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const program = (): Command => {
      const c = new Command('homing').exitOverride();
      registerProjects(c);
      return c;
    };
    const previousCode = process.exitCode;
    try {
      await program().parseAsync([
        'node',
        'homing',
        'projects',
        'rotate-keys',
        'wired',
        '--write',
        '--data-dir',
        dir,
      ]);
      expect(process.exitCode).toBe(0);
      await program().parseAsync(['node', 'homing', 'projects', 'remove', 'wired', '--data-dir', dir]);
      expect(process.exitCode).toBe(2);
      await program().parseAsync([
        'node',
        'homing',
        'projects',
        'remove',
        'wired',
        '--yes',
        '--data-dir',
        dir,
      ]);
      expect(process.exitCode).toBe(0);
    } finally {
      spy.mockRestore();
      err.mockRestore();
      process.exitCode = previousCode;
    }
    const rotated = JSON.parse(out[0]!) as Record<string, string>;
    expect(rotated.adminKey).toBe(p.adminKey);
    expect(rotated.writeKey).not.toBe(p.writeKey);
    expect(JSON.parse(out[1]!)).toMatchObject({ id: p.id, deleted: { events: 0 } });
    const help = program()
      .commands[0]!.commands.map((c) => c.helpInformation())
      .join('\n')
      .replace(/\s+/g, ' ');
    expect(help).toContain('rotate-keys [options] <project>');
    expect(help).toContain('--yes');
  });
});

async function createDatabase(): Promise<{ url: string; drop(): Promise<void> } | null> {
  const name = `homing_cli_test_${randomBytes(5).toString('hex')}`;
  const args = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'];
  try {
    await run('createdb', [...args, name]);
  } catch (err) {
    if (process.env.HOMING_REQUIRE_SERVICES === '1') throw err;
    return null;
  }
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: () => run('dropdb', [...args, '--force', name]).then(() => undefined),
  };
}

const pgDb = await createDatabase();

describe.skipIf(pgDb === null)('homing projects (PostgreSQL)', () => {
  it('creates and lists projects in the database --database names', async () => {
    cleanups.push(() => pgDb!.drop());
    const { code, json } = await create('pg app', {
      database: pgDb!.url,
      dataDir: '/nonexistent-never-used',
    });
    expect(code).toBe(0);
    const io = captureIo();
    expect(await listProjectsCommand({ database: pgDb!.url, json: true }, io)).toBe(0);
    expect(JSON.parse(io.out())).toEqual([expect.objectContaining({ ...json })]);
    expect(existsSync('/nonexistent-never-used')).toBe(false);
  });
  it('rotate-keys and remove on PostgreSQL', async () => {
    const db = (await createDatabase())!;
    cleanups.push(() => db.drop());
    const p = (await create('pg app', { database: db.url })).json!;
    const kept = (await create('kept', { database: db.url })).json!;
    const io = captureIo();
    expect(await rotateKeysCommand('pg app', { database: db.url, write: true }, io)).toBe(0);
    const rotated = JSON.parse(io.out()) as Record<string, string>;
    const store = await openStore({ databaseUrl: db.url, dataDir: '/nonexistent' });
    try {
      expect(await store.findProjectByKey(p.writeKey!)).toBeNull();
      await store.insertEvents(
        p.id!,
        Array.from({ length: 70 }, (_, i) => ev(i)),
      );
      const removed = captureIo();
      expect(await removeProjectCommand('pg app', { database: db.url, yes: true }, removed)).toBe(0);
      expect(JSON.parse(removed.out())).toMatchObject({
        id: p.id,
        deleted: { events: 70, pendingEvents: 0 },
      });
      expect(await store.findProjectByKey(rotated.writeKey!)).toBeNull();
      // This store had the project's pk: its next batch is refused, nothing stored.
      await expect(store.insertEvents(p.id!, [ev(1)])).rejects.toMatchObject({ kind: 'unknown-project' });
      expect((await store.listProjects()).map((x) => x.id)).toEqual([kept.id]);
    } finally {
      await store.close();
    }
  });
  it('a refused login names what PostgreSQL refused; a URL without a user logs in as the system user', async () => {
    const own = (await createDatabase())!;
    cleanups.push(() => own.drop());
    const name = new URL(own.url).pathname;
    const role = await create('x', { database: `postgres://no_such_role_x@127.0.0.1:5432${name}` });
    expect(role.code).toBe(1);
    expect(role.io.err()).toContain('role "no_such_role_x" does not exist');
    const db = await create('x', { database: 'postgres://postgres@127.0.0.1:5432/no_such_db_x' });
    expect(db.io.err()).toContain('database "no_such_db_x" does not exist');
    // pg alone sends no user at all without $USER or $PGUSER (a service, a container).
    vi.stubEnv('USER', undefined);
    vi.stubEnv('PGUSER', undefined);
    try {
      const io = captureIo();
      const code = await listProjectsCommand({ database: `postgres://127.0.0.1:5432${name}` }, io);
      // As psql would: the system user, whom this machine's server may or may not know.
      if (code !== 0) expect(io.err()).not.toContain('no PostgreSQL user name specified');
      else expect(io.err()).toBe('');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('a lock held by another session: create gives up after the statement bound with a hint, nothing created', async () => {
    const db = (await createDatabase())!;
    cleanups.push(() => db.drop());
    expect((await create('first', { database: db.url })).code).toBe(0);
    // Another session holds the projects table for 12 s (psql, as an operator would).
    const holder = run('psql', [
      db.url,
      '-c',
      'BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT;',
    ]).catch(() => undefined);
    cleanups.push(() => holder.then(() => undefined));
    await until(async () => (await run('psql', [db.url, '-Atc', LOCK_HELD])).stdout.trim() === '1');
    const blocked = await create('second', { database: db.url });
    expect(blocked.code).toBe(1);
    expect(blocked.io.err()).toContain('cancelled a statement');
    expect(blocked.io.err()).toMatch(/hint: another session may hold a lock/);
    await holder;
    const io = captureIo();
    expect(await listProjectsCommand({ database: db.url, json: true }, io)).toBe(0);
    expect((JSON.parse(io.out()) as { name: string }[]).map((p) => p.name)).toEqual(['first']);
  }, 30_000);
});

const LOCK_HELD =
  "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'projects' AND l.mode = 'AccessExclusiveLock' AND l.granted";

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the lock was never taken');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
// Runs when the CLI is built (npm run prepare) and its program registers `projects`.
const binHelp = existsSync(bin) ? await run(process.execPath, [bin, '--help']).catch(() => null) : null;
const binHasProjects = binHelp?.stdout.includes('projects') === true;

describe.skipIf(!binHasProjects)('homing projects (built bin)', () => {
  it('node dist/bin.js projects create NAME prints the project as JSON; list shows it', async () => {
    const dir = await dataDir();
    const { stdout } = await run(process.execPath, [bin, 'projects', 'create', 'from-bin'], {
      env: { ...process.env, HOMING_DATA_DIR: dir },
    });
    expect(JSON.parse(stdout)).toMatchObject({ name: 'from-bin', writeKey: expect.stringMatching(/^hw_/) });
    const list = await run(process.execPath, [bin, 'projects', 'list', '--data-dir', dir]);
    expect(list.stdout).toContain('from-bin');
    const bad = await run(process.execPath, [bin, 'projects', 'list', '--data-dir', join(dir, 'nope')]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('No Homing data') });
  });
});

/**
 * Another process holding `dbPath`'s write lock (BEGIN IMMEDIATE) for `holdMs`, then committing,
 * as a running server's expander does between its chunks (resolved once it holds it).
 */
async function holdWriteLock(
  dbPath: string,
  holdMs: number,
): Promise<{ child: ReturnType<typeof spawn>; exited: Promise<unknown> }> {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const script = `
    const Database = require(${JSON.stringify(sqlite)});
    const db = new Database(${JSON.stringify(dbPath)});
    db.exec('BEGIN IMMEDIATE');
    console.log('held');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('held')) resolve();
    });
    child.on('exit', () => reject(new Error('the lock holder exited before holding the lock')));
  });
  return { child, exited };
}
