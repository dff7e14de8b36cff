// What telemetry adds to one run of a CLI: the wall time of a fresh `node` process that imports
// the library, creates its client, tracks one event and ends the way the library documents for a
// CLI, from spawn to exit, with the server up, refusing connections, or taking them and never
// answering. A CLI user feels that time on every command, and most when the server is down.
// The sink runs in its own process (this same file, with HOMING_BENCH_ROLE set); each measured
// run is a tiny script written to a temp directory, so the process does nothing else.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const self = fileURLToPath(import.meta.url);
/** Runs per library and condition; the median is reported. */
const RUNS = Number(process.env.HOMING_BENCH_CLI_RUNS ?? 7);
/** A run still going after this is killed and reported as at least this long. */
const CAP_MS = 20_000;
/** Failed runs that fill the outbox (and store the breaker's state) before the backlog is measured. */
const BACKLOG_RUNS = 20;
/** Past the default `breaker.halfOpenAfterMs` (30 s), for the backlog's second delivery check. */
const HALF_OPEN_WAIT_MS = 31_000;
const EVENT = 'cli.command';
const PROPS = { command: 'deploy', flags: ['--force'], durationMs: 1234, ok: true, version: '1.2.3' };

export const title =
  'CLI run: wall time of one command that tracks 1 event (Homing vs posthog-node and Segment)';
export const notes = [
  'Each figure: a fresh `node` process (process.execPath, no shell) runs a script that imports the',
  'library, creates its client, tracks 1 event and ends the way the library documents for a CLI;',
  `timed from spawn to exit by the parent. Median of ${RUNS} runs per library and condition, the libraries`,
  `interleaved (order reversed every other round). A run still alive after ${CAP_MS / 1000} s is killed and counts`,
  `as "≥ ${CAP_MS / 1000} s" (once more than half the runs of one library hit that cap, its median is "≥" and the`,
  'rest of its runs are skipped); a ratio against such a figure is a bound.',
  'Documented CLI endings: Homing does nothing (its `beforeExit` hook flushes within',
  '`delivery.exitFlushTimeoutMs`, 2 s, and leaves what it could not send in its file outbox); posthog-node',
  '`await client.shutdown()` with its defaults; Segment `await analytics.closeAndFlush()` with its defaults.',
  'No client gets an `error` listener or changed options; Homing gets `respectDoNotTrack: false` and a fresh',
  '`directory` (its file outbox) per run; DO_NOT_TRACK and HOMING_DISABLED are cleared in the children.',
  'Conditions: **sink up**: a local HTTP sink in its own process answers 200 and counts distinct event ids',
  '(the last cell says in how many runs the event reached it); **refused**: a port that was bound and closed, so',
  'connections are refused; **hanging**: a server that accepts the connection, reads the request and never',
  'answers. For Homing in the refused and hanging conditions, once: the endpoint comes back (a sink on the',
  'same address) and a next run in the same outbox tracks its own event; the last cell says whether the earlier',
  `run's event reached the sink. **backlog**: the outbox already holds ${BACKLOG_RUNS} earlier runs against the refused`,
  'port (their breaker state stored), then each measured run adds one more: the steady state of a CLI while',
  'its server is down. posthog-node and Segment keep nothing between runs, so their figure there is their',
  'refused one. The floor row is `node` running an empty script: node startup, what no library can save.',
].join('\n');

// ---------------------------------------------------------------- sink (child process) ----
function readEvents(req, body) {
  if (req.headers['content-encoding'] === 'gzip' || (body[0] === 0x1f && body[1] === 0x8b))
    body = gunzipSync(body);
  const parsed = JSON.parse(body.toString('utf8'));
  return (parsed.batch ?? []).map((e) => ({
    id: e.uuid ?? e.messageId ?? e.properties?.$insert_id,
    event: e.event,
  }));
}

async function runSink() {
  const seen = new Map(); // event id -> event name, of the requests answered 200
  let hanging = true;
  let revived = null;
  const listen = (server, port) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server.address().port));
    });
  const ingest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        for (const e of readEvents(req, Buffer.concat(chunks))) seen.set(e.id, e.event);
      } catch {
        // A body we cannot read still gets its answer: the bench measures clients, not the sink.
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":1}');
    });
  };
  const control = async (req, res) => {
    const url = new URL(req.url, 'http://sink');
    if (url.pathname === '/count') {
      const name = url.searchParams.get('event');
      res.end(String([...seen.values()].filter((e) => e === name).length));
    } else if (url.pathname === '/reset') {
      seen.clear();
      res.end('ok');
    } else if (url.pathname === '/hang') {
      hanging = url.searchParams.get('on') === '1';
      res.end('ok');
    } else if (url.pathname === '/revive') {
      // The refused port answers again: a server that was down is back at the same address.
      revived = createServer(ingest);
      await listen(revived, Number(url.searchParams.get('port'))).then(
        () => res.end('ok'),
        (err) => res.end(`failed: ${err.code}`),
      );
    } else if (url.pathname === '/bury') {
      revived?.closeAllConnections();
      revived?.close();
      revived = null;
      res.end('ok');
    } else return false;
    return true;
  };
  const up = createServer(async (req, res) => {
    if (req.url.startsWith('/control/')) {
      req.url = req.url.slice('/control'.length);
      if (await control(req, res)) return;
    }
    ingest(req, res);
  });
  // Takes the connection and the request, never answers (until told to, for the outbox check).
  const hang = createServer((req, res) => (hanging ? req.resume() : ingest(req, res)));
  const ports = [await listen(up, 0), await listen(hang, 0)];
  process.stdout.write(`${ports.join(' ')}\n`);
}

// ---------------------------------------------------------------- the measured scripts ----
/** One script per library, as small as a CLI's telemetry can be; host, outbox and event name from env. */
function writeScripts(dir) {
  const url = (name) => JSON.stringify(import.meta.resolve(name));
  const props = JSON.stringify(PROPS);
  const scripts = {
    floor: '',
    homing: [
      `import { createTelemetry } from ${url('@homing/client')};`,
      'const telemetry = createTelemetry({',
      "  endpoints: [{ destination: 'homing', host: process.env.BENCH_HOST, key: 'bench' }],",
      "  directory: process.env.BENCH_DIR, distinctId: 'user-1', respectDoNotTrack: false,",
      '});',
      `telemetry.track(process.env.BENCH_EVENT, ${props});`,
    ],
    posthog: [
      `import { PostHog } from ${url('posthog-node')};`,
      "const client = new PostHog('bench', { host: process.env.BENCH_HOST });",
      `client.capture({ distinctId: 'user-1', event: process.env.BENCH_EVENT, properties: ${props} });`,
      'await client.shutdown();',
    ],
    segment: [
      `import { Analytics } from ${url('@segment/analytics-node')};`,
      "const analytics = new Analytics({ writeKey: 'bench', host: process.env.BENCH_HOST });",
      `analytics.track({ userId: 'user-1', event: process.env.BENCH_EVENT, properties: ${props} });`,
      'await analytics.closeAndFlush();',
    ],
  };
  const files = {};
  for (const [lib, lines] of Object.entries(scripts)) {
    files[lib] = path.join(dir, `${lib}.mjs`);
    writeFileSync(files[lib], [lines].flat().join('\n') + '\n');
  }
  return files;
}

function childEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.DO_NOT_TRACK;
  delete env.HOMING_DISABLED;
  delete env.HOMING_BENCH_ROLE;
  return env;
}

/** Spawns one run and answers its wall time from spawn to exit; killed at the cap. */
function timedRun(script, env) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const proc = spawn(process.execPath, [script], {
      env: childEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      if (stderr.length < 4000) stderr += chunk;
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), CAP_MS);
    proc.on('exit', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      resolve({ ms, capped: signal === 'SIGKILL', code, stderr });
    });
  });
}

// ---------------------------------------------------------------- parent ----
/** A figure that is a lower bound: prints as "≥ 20,000", divides as 20 000 (report.js takes it as a number). */
function atLeast(ms) {
  return { valueOf: () => ms, toString: () => `≥ ${Math.round(ms).toLocaleString('en-US')}` };
}

function startSink() {
  const sink = spawn(process.execPath, [self], {
    env: { ...process.env, HOMING_BENCH_ROLE: 'sink' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let text = '';
    sink.stdout.setEncoding('utf8');
    sink.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve({ sink, ports: text.trim().split(' ').map(Number) });
    });
    sink.on('exit', (code) => reject(new Error(`bench cli-run: the sink exited (${code})`)));
  });
}

async function refusedPort() {
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function run() {
  const { sink, ports } = await startSink();
  const [upPort, hangPort] = ports;
  const deadPort = await refusedPort();
  const hostOf = (port) => `http://127.0.0.1:${port}`;
  const controlUrl = (what) => `${hostOf(upPort)}/control/${what}`;
  const ctl = async (what) => (await fetch(controlUrl(what), { method: 'POST' })).text();
  const count = async (event = EVENT) =>
    Number(await (await fetch(controlUrl(`count?event=${event}`))).text());
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'homing-bench-cli-run-'));
  const scripts = writeScripts(scratch);
  let dirs = 0;
  const freshDir = () => mkdtempSync(path.join(scratch, `outbox-${dirs++}-`));
  const log = (text) => process.stderr.write(`bench cli-run: ${text}\n`);

  /** One run of a library; answers its time, and for the sink up whether the event arrived. */
  async function oneRun(lib, host, { dir, checkSink = false } = {}) {
    if (checkSink) await ctl('reset');
    const outbox = lib === 'homing' ? (dir ?? freshDir()) : '';
    const r = await timedRun(scripts[lib], { BENCH_HOST: host, BENCH_DIR: outbox, BENCH_EVENT: EVENT });
    if (r.code !== 0 && !r.capped) log(`${lib} exited ${r.code}: ${r.stderr.slice(0, 600)}`);
    if (checkSink) {
      r.delivered = (await count()) > 0;
      if (!r.delivered) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        r.delivered = (await count()) > 0;
      }
    }
    if (lib === 'homing' && dir === undefined) r.dir = outbox;
    return r;
  }

  /** RUNS runs of each library, interleaved; a library stops once its median is sure to be capped. */
  async function measure(condition, libs, host, options = {}) {
    const runs = Object.fromEntries(libs.map((lib) => [lib, []]));
    for (let round = 0; round < RUNS; round++) {
      for (const lib of round % 2 === 0 ? libs : [...libs].reverse()) {
        if (runs[lib].filter((r) => r.capped).length > RUNS / 2) continue;
        const r = await oneRun(lib, host, options);
        runs[lib].push(r);
        log(`${condition} ${lib} ${r.capped ? `killed at ${CAP_MS} ms` : `${r.ms.toFixed(0)} ms`}`);
      }
    }
    const figures = {};
    for (const lib of libs) {
      const list = runs[lib];
      const capped = list.filter((r) => r.capped).length;
      const sorted = list.map((r) => r.ms).sort((a, b) => a - b);
      figures[lib] = {
        value: capped > RUNS / 2 ? atLeast(CAP_MS) : sorted[Math.floor((sorted.length - 1) / 2)],
        runs: list.length,
        capped,
        delivered: list.filter((r) => r.delivered).length,
        lastDir: list.at(-1)?.dir,
        range: `${sorted[0].toFixed(0)}–${sorted.at(-1).toFixed(0)} ms`,
      };
    }
    return figures;
  }

  /** The endpoint is back: a next Homing run in `dir` tracks its own event; how many of the earlier ones arrive. */
  async function nextRunDelivers(dir, host) {
    await ctl('reset');
    const r = await timedRun(scripts.homing, { BENCH_HOST: host, BENCH_DIR: dir, BENCH_EVENT: 'cli.next' });
    if (r.code !== 0) log(`homing next run exited ${r.code}: ${r.stderr.slice(0, 600)}`);
    return { earlier: await count(), own: await count('cli.next'), ms: r.ms };
  }

  /** Runs `fn` while a sink answers on the refused port; null when the port could not be bound again. */
  async function withEndpointBack(fn) {
    try {
      return (await ctl(`revive?port=${deadPort}`)) === 'ok' ? await fn() : null;
    } finally {
      await ctl('bury');
    }
  }

  const rows = [];
  const libs = ['homing', 'posthog', 'segment'];
  const spread = (f) => `${f.capped ? `${f.capped}/${f.runs} killed, ` : ''}runs ${f.range}`;
  /** Two rows (vs posthog, vs Segment); what is said of Homing goes in the first row's last cell. */
  const pair = (work, homing, competitors, homingNote, competitorNote = () => '') =>
    ['posthog', 'segment'].map((lib) => ({
      work,
      homing: homing.value,
      competitor: lib === 'posthog' ? 'posthog-node 5' : '@segment/analytics-node 3',
      competitorValue: competitors[lib].value,
      unit: 'ms',
      better: 'lower',
      goal: [
        ...(lib === 'posthog' ? [homingNote, `Homing ${spread(homing)}`] : []),
        `${lib}${competitorNote(lib)} ${spread(competitors[lib])}`,
      ]
        .filter(Boolean)
        .join('; '),
    }));
  const keptNote = (next, held = 1) =>
    next === null
      ? 'outbox check skipped (the port could not be bound again)'
      : `the next Homing run with the endpoint back delivered ${next.earlier}/${held} earlier events (its own ${next.own})`;
  try {
    const up = await measure('sink up', ['floor', ...libs], hostOf(upPort), { checkSink: true });
    rows.push({
      work: 'floor: `node` running an empty script (node startup, no library)',
      homing: up.floor.value,
      unit: 'ms',
      better: 'lower',
      goal: `context; ${spread(up.floor)}`,
    });
    const reached = (f) => `event at the sink in ${f.delivered}/${f.runs} runs`;
    rows.push(
      ...pair(
        'sink up: spawn → exit',
        up.homing,
        up,
        `Homing ${reached(up.homing)}`,
        (lib) => ` ${reached(up[lib])},`,
      ),
    );

    const refused = await measure('refused', libs, hostOf(deadPort));
    const refusedNext = await withEndpointBack(() =>
      nextRunDelivers(refused.homing.lastDir, hostOf(deadPort)),
    );
    rows.push(...pair('connection refused: spawn → exit', refused.homing, refused, keptNote(refusedNext)));

    const hanging = await measure('hanging', libs, hostOf(hangPort));
    await ctl('hang?on=0');
    const hangingNext = await nextRunDelivers(hanging.homing.lastDir, hostOf(hangPort));
    await ctl('hang?on=1');
    rows.push(
      ...pair('server accepts, never answers: spawn → exit', hanging.homing, hanging, keptNote(hangingNext)),
    );

    const backlogDir = freshDir();
    for (let i = 0; i < BACKLOG_RUNS; i++) await oneRun('homing', hostOf(deadPort), { dir: backlogDir });
    const backlog = await measure('backlog', ['homing'], hostOf(deadPort), { dir: backlogDir });
    const held = BACKLOG_RUNS + backlog.homing.runs;
    const backlogNext = await withEndpointBack(() => nextRunDelivers(backlogDir, hostOf(deadPort)));
    let backlogNote = keptNote(backlogNext, held);
    if (backlogNext !== null && backlogNext.earlier < held) {
      // The stored breaker is open: runs skip the endpoint until its half-open time has passed.
      await new Promise((resolve) => setTimeout(resolve, HALF_OPEN_WAIT_MS));
      const later = await withEndpointBack(() => nextRunDelivers(backlogDir, hostOf(deadPort)));
      if (later !== null)
        backlogNote += `, a run ${HALF_OPEN_WAIT_MS / 1000} s later ${later.earlier}/${held}`;
    }
    rows.push(
      ...pair(
        `backlog: the outbox holds ${BACKLOG_RUNS} earlier failed runs, refused: spawn → exit`,
        backlog.homing,
        refused,
        backlogNote,
        () => ' (no outbox: its refused runs)',
      ),
    );
  } finally {
    sink.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
  return rows;
}

if (process.env.HOMING_BENCH_ROLE === 'sink') await runSink();
