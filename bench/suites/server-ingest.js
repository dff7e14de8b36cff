// The ingest server over HTTP: POST /ingest with 100-event batches from autocannon in this
// process, against `homing`'s server in a child process (the load generator and the server
// never share an event loop), on loopback. Rows: SQLite with time-ordered (v7) and random
// (v4) uuids, the same server with a no-op store (the ceiling), and PostgreSQL.
import { randomFillSync } from 'node:crypto';
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
  'carries 100 new events (~19 KB of JSON, 10 000 distinct persons), written into a template buffer',
  '(fresh uuids, persons and timestamps per request) so the load generator, which shares the cores',
  'with the server, spends ~40–60 µs of CPU a request instead of 90–240 µs. events/s counts only events in',
  '2xx answers, i.e. committed (SQLite: to the ingest log, WAL, synchronous=NORMAL). "until expanded"',
  'adds the time the store then needs to move the backlog into the indexed events table, which is',
  'what one process sustains indefinitely. The competitor column is the same server with a no-op store.',
  '"per CPU-second" divides the events by the CPU time the server process used (process.cpuUsage):',
  'the rate one core would give this process alone, which the wall-clock rate on a shared, loaded',
  'machine does not show. "main thread" counts only the CPU of the thread that answers requests (Linux,',
  'from /proc; the SQLite expander worker is left out): the cost of acknowledging alone. "slowest',
  'request" is the longest any request of the row waited: where a pause of the server\'s event loop shows,',
  'and, with SQLite, backpressure: at maxPendingEvents unexpanded events (1 000 000, which the v4 and v7 rows can',
  "reach near their end) group commits wait for the expander's next chunk, up to about a second.",
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

const PERSONS = 10_000;
let seq = 0;

/**
 * Request bodies: 100 new events each, ~19 KB of JSON. Built once as a template with
 * fixed-width fields (uuid, a 4-digit person number, timestamps) that each request overwrites in
 * place: building each body as a string (100 template literals, then UTF-8) cost the load
 * generator 90 µs (v4) to 240 µs (v7) a request, a quarter to half of one of the machine's two
 * cores at the rates measured, taken from the server. autocannon copies the body into its
 * request buffer before the next call, so one buffer per kind serves every request.
 */
function bodyMaker(kind) {
  const stamp = '0000-00-00T00:00:00.000Z';
  const blank =
    kind === 'v7' ? '00000000-0000-7000-8000-000000000000' : '00000000-0000-4000-8000-000000000000';
  const parts = new Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    parts[i] =
      `{"uuid":"${blank}","event":"${i % 10 === 0 ? 'signup' : 'page_view'}","distinct_id":"user-0000","timestamp":"${stamp}",` +
      `"properties":{"$lib":"homing-node","$lib_version":"0.1.0","path":"/pricing","referrer":"https://example.com/","n":${i}}}`;
  }
  const buf = Buffer.from(`{"batch":[${parts.join(',')}],"sent_at":"${stamp}"}`, 'latin1');
  const text = buf.toString('latin1');
  const at = (needle) => {
    const out = [];
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) out.push(i + needle.length);
    return out;
  };
  const uuids = at('"uuid":"');
  const persons = at('"distinct_id":"user-');
  const stamps = [...at('"timestamp":"'), ...at('"sent_at":"')];
  // Written byte by byte: a Buffer#write call per field cost more than the bytes it wrote.
  const key = Buffer.alloc(BATCH * 16);
  return () => {
    const now = new Date().toISOString();
    for (const p of stamps) for (let c = 0; c < 24; c++) buf[p + c] = now.charCodeAt(c);
    if (kind === 'v4') {
      randomFillSync(key);
      for (let i = 0; i < BATCH; i++) {
        key[i * 16 + 6] = (key[i * 16 + 6] & 0x0f) | 0x40; // version 4
        key[i * 16 + 8] = (key[i * 16 + 8] & 0x3f) | 0x80; // RFC 9562 variant
      }
    } else {
      // v7: the millisecond (48 bits), version 7, variant, then a counter (time-ordered keys).
      const ms = Date.now();
      for (let i = 0; i < BATCH; i++) {
        key.writeUIntBE(ms, i * 16, 6);
        key.writeUInt32BE(0x70008000, i * 16 + 6);
        key.writeUIntBE(seq++ % 2 ** 48, i * 16 + 10, 6);
      }
    }
    for (let i = 0; i < BATCH; i++) {
      writeUuid(buf, uuids[i], key, i * 16);
      writeDecimal(buf, persons[i], 4, (Math.random() * PERSONS) | 0);
    }
    return buf;
  };
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** The 16 bytes `key[from, from + 16)` as a canonical lowercase UUID at `buf[at]`. */
function writeUuid(buf, at, key, from) {
  let o = at;
  for (let k = 0; k < 16; k++) {
    if (k === 4 || k === 6 || k === 8 || k === 10) o++; // the template's dash
    const b = key[from + k];
    buf[o++] = HEX_DIGITS[b >> 4];
    buf[o++] = HEX_DIGITS[b & 15];
  }
}

function writeDecimal(buf, at, width, value) {
  for (let d = at + width - 1; d >= at; d--) {
    buf[d] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

function load(port, key, kind, seconds) {
  const body = bodyMaker(kind);
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}/ingest`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: seconds,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
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
  const loadgenMark = process.cpuUsage();
  const r = await load(port, key, uuids, SECONDS);
  const loadgen = process.cpuUsage(loadgenMark);
  // The load generator shares the machine's cores with the server: say how much it took.
  process.stderr.write(
    `bench: ${kind} ${uuids}: load generator used ${(((loadgen.user + loadgen.system) / 1e6 / r.duration) * 100).toFixed(0)}% of a core\n`,
  );
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
    max: r.latency.max,
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
    rows.push({
      work: `${work}: slowest request`,
      homing: m.max,
      competitor: 'same server, no-op store',
      competitorValue: noop.max,
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
  rows.push({
    work: 'no-op store: slowest request',
    homing: noop.max,
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
