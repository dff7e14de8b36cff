// The ingest server over HTTP: POST /ingest with 100-event batches from autocannon in this
// process, against `homing`'s server in a child process (the load generator and the server
// never share an event loop), on loopback. Rows: SQLite with time-ordered (v7) and random
// (v4) uuids, the same server with a no-op store (the ceiling), and PostgreSQL.
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';

const SECONDS = Number(process.env.HOMING_BENCH_INGEST_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.HOMING_BENCH_INGEST_CONNECTIONS ?? 16);
const BATCH = 100;
const PG_URL = process.env.HOMING_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const self = fileURLToPath(import.meta.url);

export const title = 'Server ingest over HTTP: events/s and p99 latency, POST /ingest with 100-event batches';
export const notes = [
  `autocannon in the bench process, ${CONNECTIONS} connections, ${SECONDS} s per row after a 2 s warm-up;`,
  'the server (buildServer, logger off, rate limit off) in a child process, on 127.0.0.1. Each request',
  'carries 100 new events (~19 KB of JSON, 10 000 distinct persons). events/s counts only events in',
  '2xx answers, i.e. committed (SQLite: to the ingest log, WAL, synchronous=NORMAL). "until expanded"',
  'adds the time the store then needs to move the backlog into the indexed events table, which is',
  'what one process sustains indefinitely. The competitor column is the same server with a no-op store.',
  '"per CPU-second" divides the events by the CPU time the server process used (process.cpuUsage):',
  'the rate one core would give this process alone, which the wall-clock rate on a shared, loaded',
  'machine does not show. "main thread" counts only the CPU of the thread that answers requests (Linux,',
  'from /proc; the SQLite expander worker is left out): the cost of acknowledging alone.',
].join('\n');

/** CPU seconds of this process's main thread (Linux), or NaN where /proc has no threads. */
function mainThreadCpu() {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- server (child process) side

async function serveChild(kind, where) {
  const server = await import('../../packages/server/dist/index.js');
  let store;
  if (kind === 'noop') store = new server.NoopStore();
  else if (kind === 'sqlite') store = new server.SqliteStore({ dataDir: where });
  else store = new server.PostgresStore({ url: where });
  await store.migrate();
  const project = kind === 'noop' ? store.project : await store.createProject('bench');
  const app = server.buildServer({ store, logger: false, rateLimit: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`ready ${app.server.address().port} ${project.writeKey}\n`);
  process.stdin.setEncoding('utf8');
  let mark = process.cpuUsage();
  let mainMark = mainThreadCpu();
  for await (const line of process.stdin) {
    if (line.startsWith('mark')) {
      mark = process.cpuUsage();
      mainMark = mainThreadCpu();
      process.stdout.write('marked\n');
    }
    if (line.startsWith('cpu')) {
      const c = process.cpuUsage(mark);
      process.stdout.write(`cpu ${(c.user + c.system) / 1e6} ${mainThreadCpu() - mainMark}\n`);
    }
    if (line.startsWith('drain')) {
      const t0 = performance.now();
      if (typeof store.drain === 'function') await store.drain();
      process.stdout.write(`drained ${performance.now() - t0}\n`);
    }
    if (line.startsWith('close')) break;
  }
  await app.close();
  await store.close();
  process.exit(0);
}

if (process.argv[1] === self && process.argv[2] === '--serve') {
  await serveChild(process.argv[3], process.argv[4]);
}

// ---------------------------------------------------------------- load generator side

function startChild(kind, where) {
  const child = spawn(process.execPath, [self, '--serve', kind, where ?? ''], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buf = '';
  const waiters = [];
  child.stdout.on('data', (d) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) for (const w of waiters.splice(0)) w(l);
  });
  const next = () => new Promise((resolve) => waiters.push(resolve));
  return { child, next };
}

const persons = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
let seq = 0;
function v7() {
  const h = Date.now().toString(16).padStart(12, '0');
  const c = (seq++ & 0xffffffffffff).toString(16).padStart(12, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7000-8000-${c}`;
}

function body(kind) {
  const now = new Date().toISOString();
  const parts = new Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const uuid = kind === 'v4' ? randomUUID() : v7();
    const who = persons[(Math.random() * 10_000) | 0];
    parts[i] =
      `{"uuid":"${uuid}","event":"${i % 10 === 0 ? 'signup' : 'page_view'}","distinct_id":"${who}","timestamp":"${now}",` +
      `"properties":{"$lib":"homing-node","$lib_version":"0.1.0","path":"/pricing","referrer":"https://example.com/","n":${i}}}`;
  }
  return `{"batch":[${parts.join(',')}],"sent_at":"${now}"}`;
}

function load(port, key, kind, seconds) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}/ingest`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: seconds,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        requests: [{ setupRequest: (req) => ({ ...req, body: body(kind) }) }],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function measure(kind, uuids, where) {
  const { child, next } = startChild(kind, where);
  const ready = (await next()).split(' ');
  const port = Number(ready[1]);
  const key = ready[2];
  await load(port, key, uuids, 2);
  child.stdin.write('mark\n');
  await next();
  const r = await load(port, key, uuids, SECONDS);
  child.stdin.write('cpu\n');
  const [, cpuText, mainText] = (await next()).split(' ');
  const cpuLoad = Number(cpuText);
  const mainLoad = Number(mainText);
  child.stdin.write('mark\n');
  await next();
  child.stdin.write('drain\n');
  const drainedMs = Number((await next()).split(' ')[1]);
  child.stdin.write('cpu\n');
  const cpuDrain = Number((await next()).split(' ')[1]);
  child.stdin.write('close\n');
  await new Promise((resolve) => child.on('exit', resolve));
  const events = r['2xx'] * BATCH;
  return {
    eventsPerSecond: events / r.duration,
    untilExpanded: events / (r.duration + drainedMs / 1000),
    // Events per second of the server process's own CPU time: what one core would do if this
    // process had it alone (the machine is shared; wall-clock rates depend on the neighbours).
    perCpuSecond: events / cpuLoad,
    perMainThreadCpuSecond: events / mainLoad,
    perCpuSecondExpanded: events / (cpuLoad + cpuDrain),
    p99: r.latency.p99,
    non2xx: r.non2xx + r.errors + r.timeouts,
  };
}

async function pgDatabase() {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  const name = `homing_bench_ingest_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export async function run() {
  const rows = [];
  const load0 = (await import('node:os')).loadavg()[0];
  process.stderr.write(`bench: server-ingest starts at load average ${load0.toFixed(1)}\n`);
  const noop = await measure('noop', 'v4');
  const ceiling = noop.eventsPerSecond;
  const add = (work, m, value, goal = '') => {
    rows.push({
      work,
      homing: value,
      competitor: 'same server, no-op store',
      competitorValue: ceiling,
      unit: 'events/s',
      better: 'higher',
      goal,
    });
    rows.push({
      work: `${work}: per CPU-second of the server process`,
      homing: m.perCpuSecond,
      competitor: 'same server, no-op store',
      competitorValue: noop.perCpuSecond,
      unit: 'events/s',
      better: 'higher',
      goal,
    });
    if (Number.isFinite(m.perMainThreadCpuSecond)) {
      rows.push({
        work: `${work}: per CPU-second of the server's main thread`,
        homing: m.perMainThreadCpuSecond,
        competitor: 'same server, no-op store',
        competitorValue: noop.perMainThreadCpuSecond,
        unit: 'events/s',
        better: 'higher',
        goal: '',
      });
    }
    rows.push({
      work: `${work}: p99 latency`,
      homing: m.p99,
      competitor: null,
      competitorValue: null,
      unit: 'ms',
      better: 'lower',
      goal: '',
    });
    if (m.non2xx > 0) process.stderr.write(`bench: ${work}: ${m.non2xx} requests not answered 2xx\n`);
  };
  rows.push({
    work: 'no-op store: per CPU-second of the server process',
    homing: noop.perCpuSecond,
    competitor: null,
    competitorValue: null,
    unit: 'events/s',
    better: 'higher',
    goal: '',
  });
  rows.push({
    work: 'no-op store (ceiling)',
    homing: ceiling,
    competitor: null,
    competitorValue: null,
    unit: 'events/s',
    better: 'higher',
    goal: '',
  });
  rows.push({
    work: 'no-op store: p99 latency',
    homing: noop.p99,
    competitor: null,
    competitorValue: null,
    unit: 'ms',
    better: 'lower',
    goal: '',
  });
  for (const uuids of ['v7', 'v4']) {
    const dir = mkdtempSync(join(tmpdir(), 'homing-bench-ingest-'));
    try {
      const m = await measure('sqlite', uuids, dir);
      add(`SQLite ${uuids} uuids: acknowledged`, m, m.eventsPerSecond, '≥ 200 000');
      rows.push({
        work: `SQLite ${uuids} uuids: until expanded into the events table`,
        homing: m.untilExpanded,
        competitor: 'same server, no-op store',
        competitorValue: ceiling,
        unit: 'events/s',
        better: 'higher',
        goal: '≥ 200 000',
      });
      rows.push({
        work: `SQLite ${uuids} uuids: until expanded, per CPU-second of the server process`,
        homing: m.perCpuSecondExpanded,
        competitor: 'same server, no-op store',
        competitorValue: noop.perCpuSecond,
        unit: 'events/s',
        better: 'higher',
        goal: '≥ 200 000',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const db = await pgDatabase();
  if (db === null) {
    process.stderr.write('bench: PostgreSQL unreachable, its row is left out\n');
  } else {
    try {
      const m = await measure('postgres', 'v4', db.url);
      add('PostgreSQL v4 uuids', m, m.eventsPerSecond);
    } finally {
      await db.drop();
    }
  }
  return rows;
}
