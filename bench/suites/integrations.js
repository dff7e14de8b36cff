// Design 003's overhead target (< 5 %) on a realistic loop: an Express app in a child process
// under autocannon (in this process), with and without Homing: the real client
// (createTelemetry, memory outbox, a custom destination that discards, error tracking and metric
// summaries on), instrumentExpress timing every request (what the
// integrations README recommends) and homingExpressErrorHandler capturing the 2 % of requests
// that throw. Several pairs of fresh server processes, both servers pinned to one CPU and the
// load generator to the other, loaded one at a time in ABBA order; throughput is also given per
// CPU-second of each server process.
import dc from 'node:diagnostics_channel';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { hasTaskset, pinLoadGenerator, startChildServer } from '../lib/childServer.js';

/**
 * Process pairs, each a fresh app of each side: processes of the same app differ (JIT decisions,
 * memory layout), by up to 5 % in an A/A run of 30 rounds a pair, so the result is pooled over many.
 */
const PAIRS = Number(process.env.HOMING_BENCH_INTEGRATIONS_PAIRS ?? 20);
/**
 * Rounds per pair; a round loads each side for SLICE_SECONDS, one after the other. This machine's
 * speed swings by up to ±10 % from one second to the next (one process loaded in 1 s slices:
 * 6 700-8 500 req/s), so the sides take many short turns: in an A/A run of 40 rounds the ratio of
 * one round's two slices had a standard deviation of 5 %. autocannon ends a run on its 1 s tick,
 * so a slice is whole seconds.
 */
const ROUNDS = Number(process.env.HOMING_BENCH_INTEGRATIONS_ROUNDS ?? 8);
const SLICE_SECONDS = Number(process.env.HOMING_BENCH_INTEGRATIONS_SLICE_SECONDS ?? 1);
const CONNECTIONS = Number(process.env.HOMING_BENCH_INTEGRATIONS_CONNECTIONS ?? 10);
/** Seconds of load on the profiled server (the last row). */
const PROFILE_SECONDS = Number(process.env.HOMING_BENCH_INTEGRATIONS_PROFILE_SECONDS ?? 10);
/**
 * `1`: load both apps of a pair at once, the way to go on a machine busy with other work, whose
 * load then falls on both alike. Otherwise (the default) one app at a time, as an app is served.
 */
const CONCURRENT = process.env.HOMING_BENCH_INTEGRATIONS_CONCURRENT === '1';
/**
 * Both servers run on this CPU and the load generator (this process) on the others, so neither
 * side of a pair gets a quieter core than the other: unpinned, pairs of the same app differed by
 * up to 8 %, pinned by up to 4 % (bare against bare, pooled over 4 pairs: 1.000). Empty: no pinning.
 */
const PIN_CPU =
  process.env.HOMING_BENCH_INTEGRATIONS_PIN ?? (os.cpus().length >= 2 && hasTaskset() ? '1' : '');

/**
 * The two apps set against each other (first is the baseline), to find where a difference comes
 * from: `bare`, `homing` (the default pair), `middleware` (`homing` timed by the homingExpress
 * middleware instead of instrumentExpress), `client` (the client and trackers loaded and running,
 * nothing timed), `timing` (`homing` without the error handler), `noop` (instrumentExpress and the
 * error handler on a telemetry that does nothing), `empty` (a middleware that only calls `next()`:
 * what any middleware costs Express), `traced` (the bare app with a subscriber that does nothing on the
 * router's `express.router.request` tracing channel), `httpdc` (the bare app with subscribers that
 * do nothing on Node's `http.server.request.start` and `http.server.response.finish` channels),
 * `ballast` (the bare app keeping ~3 MB of small live objects, about what loading the client adds
 * to the heap: what a larger heap alone costs the collector), `control` (the bare app again, under
 * another name: an A/A run, which shows any bias of the method between its two sides), `modules`
 * (the bare app with the client's modules imported, nothing created).
 * Only the default pair is written to BENCHMARKS.md.
 */
const SIDES = (process.env.HOMING_BENCH_INTEGRATIONS_SIDES ?? 'bare,homing').split(',');
const MODES = [
  'bare',
  'homing',
  'middleware',
  'client',
  'timing',
  'noop',
  'empty',
  'traced',
  'httpdc',
  'ballast',
  'control',
  'modules',
];
if (SIDES.length !== 2 || !SIDES.every((m) => MODES.includes(m))) {
  throw new Error(`HOMING_BENCH_INTEGRATIONS_SIDES must be two of ${MODES.join(', ')}, comma-separated`);
}
const self = fileURLToPath(import.meta.url);

export const title =
  'Integrations: Express throughput with and without Homing (instrumentExpress + error capture)';
export const notes = [
  `autocannon in the bench process, ${CONNECTIONS} connections, on 127.0.0.1; each app in a child process (nice 5).`,
  `${PAIRS} pairs of fresh processes (which side starts first alternates), both started, then warmed 3 s each in`,
  `1 s turns (ABBA), then ${ROUNDS} rounds, each side loaded ${SLICE_SECONDS} s a round, ${CONCURRENT ? 'both at once' : 'one at a time in ABBA order'}; ${PIN_CPU === '' ? 'no CPU pinning' : `both servers on CPU ${PIN_CPU}, the load generator on the others`};`,
  'totals pooled over all rounds, with a 95 % interval from resampling the pairs and, within each, its rounds.',
  "Why so many short turns: this machine's speed swings by up to ±10 % from one second to the next (one",
  'process loaded in 1 s slices: 6 700-8 500 req/s), and processes of the same app differ by up to 5 % (an',
  'A/A pair of 30 rounds read 0.945). The method before this one (5 turns of 2 s a pair, each app warmed',
  'whole before the other started) read 0.987 and 1.040 in two A/A runs: the side started second, which',
  "had not sat idle through the other's warm-up, served 3-6 % more. This one, bare against `control` (the",
  'same bare app under another name), 4 pairs x 30 rounds: 1.002.',
  'The app: JSON answers from GET /users/:id, GET /orgs/:org/projects/:pid (a mounted router) and',
  'POST-free reads; 1 request in 50 throws (Express answers 500). With Homing: `@homing/client` and',
  '`@homing/client/integrations` imported as an app does (on Node, the bundle in dist/node), createTelemetry',
  '(memory outbox, custom destination that discards, error tracking on, metric summaries every 5 s,',
  'runtime metrics off), instrumentExpress on the app (no middleware layer: it wraps app.handle) and',
  'homingExpressErrorHandler after the routes, both given the client. Goal: with / without >= 0.97.',
  "The last row is Homing's own code measured where it runs: a fresh instrumented server under the same",
  `load for ${PROFILE_SECONDS} s with V8's CPU profiler on (every 250 µs); the share of its non-idle samples whose`,
  "innermost JavaScript frame is Homing's (natives count for their caller: reading error.stack counts for",
  "Homing; the collector's samples count for no one). It cannot see what instrumenting costs Express's",
  "own code, nor what Homing's presence costs the collector.",
  'Where the cost was, before the Node bundle (quiet machine, 2026-12-03; the client imported module by',
  'module from dist, trackers made on its feature host; with/without and 95 % interval): the default pair',
  '0.953 (0.93-0.97, 20 pairs, goal missed); other sides of `HOMING_BENCH_INTEGRATIONS_SIDES`, 10-12 pairs',
  'each: `noop` (instrumentExpress and the error handler on a telemetry that does nothing, no client)',
  '0.990 (0.97-1.01); `client` (the client and trackers created, nothing instrumented, no error captured)',
  "0.956 (0.94-0.97); `modules` (the client's modules imported, nothing created) 0.951 (0.92-0.98);",
  '`ballast` (the bare app keeping 3 MB of small objects) 0.967 (0.93-1.00). Most of the gap was the',
  'client being loaded at all: importing it added ~3.1 MB to a heap of ~11 MB (live after a full',
  'collection) in an app that spends ~20 % of its CPU in the collector (`--trace-gc`: a scavenge every',
  '~400 requests, ~10 ms each), the scavenges costing more per request with it (24 -> 26 and 32 -> 33 µs',
  'in two pairs). The Node entry points now load a bundle (`packages/client/scripts/bundleNode.mjs`: a',
  'few files instead of ~170 modules, no comments, one statement a line, names kept), which adds ~2.1 MB; the',
  'same bundle with the old set-up read 0.983 (0.95-1.01, 12 pairs) before the rows below, and a second',
  'run of the rows below at 795ebee read 0.992 (0.97-1.01) requests/s and 0.995 (0.97-1.01) per CPU-second.',
].join('\n');

// ---------------------------------------------------------------- server (child process) side

async function serveChild(mode) {
  const { default: express } = await import('express');
  const app = express();
  let telemetry;
  const closers = [];
  if (mode === 'empty') app.use((_req, _res, next) => next());
  if (mode === 'traced') {
    const nothing = () => {};
    dc.tracingChannel('express.router.request').subscribe({
      start: nothing,
      end: nothing,
      asyncStart: nothing,
      asyncEnd: nothing,
      error: nothing,
    });
  }
  if (mode === 'ballast') {
    // ~3 MB of heap in 17 000 small objects and strings, kept for the process's life.
    const kept = Array.from({ length: 17_000 }, (_, i) => ({
      i,
      name: `ballast ${i}`,
      tags: [i, String(i)],
    }));
    closers.push(() => kept.length);
  }
  if (mode === 'httpdc') {
    dc.subscribe('http.server.request.start', () => {});
    dc.subscribe('http.server.response.finish', () => {});
  }
  if (mode === 'modules') {
    // The client's modules loaded, nothing created: what its code alone costs the app.
    const loaded = await Promise.all([import('@homing/client'), import('@homing/client/integrations')]);
    closers.push(() => loaded.length);
  }
  if (mode === 'noop') {
    const integrations = await import('@homing/client/integrations');
    const noop = { captureError: () => undefined, addBreadcrumb() {}, timing() {}, track() {} };
    integrations.instrumentExpress(app, noop);
    app.locals.errorHandler = integrations.homingExpressErrorHandler(noop);
  }
  if (mode === 'homing' || mode === 'middleware' || mode === 'client' || mode === 'timing') {
    // The package's own entry points, as an app imports them (on Node, the bundle in dist/node).
    const { createTelemetry } = await import('@homing/client');
    const integrations = await import('@homing/client/integrations');
    const c = createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => {} }],
      storage: 'memory',
      distinctId: 'bench',
      errors: {},
      performance: { flushIntervalMs: 5_000, runtime: 'off' },
    });
    // The client itself is what the integrations take (captureError, addBreadcrumb, timing, track).
    telemetry = c;
    if (mode === 'middleware') app.use(integrations.homingExpress(telemetry));
    else if (mode !== 'client') integrations.instrumentExpress(app, telemetry);
    closers.push(async () => {
      const stats = await c.stats();
      process.stdout.write(`stats ${stats.tracked} ${stats.sent}\n`);
      await c.shutdown({ timeoutMs: 2000 });
    });
    if (mode === 'homing' || mode === 'middleware')
      app.locals.errorHandler = integrations.homingExpressErrorHandler(telemetry);
  }
  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id, name: `user ${req.params.id}`, plan: 'pro' });
  });
  const router = express.Router();
  router.get('/projects/:pid', (req, res) => {
    res.json({ project: req.params.pid, open: 3 });
  });
  app.use('/orgs/:org', router);
  app.get('/fail/:n', (req) => {
    throw new Error(`order ${req.params.n} failed`);
  });
  if (app.locals.errorHandler) app.use(app.locals.errorHandler);
  // The app's own last error handler, on both sides (Express's default one logs every stack).
  app.use((error, _req, res, _next) => {
    res.status(500).json({ error: 'internal', id: res.locals.homingErrorId ?? null });
  });
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(`ready ${server.address().port}\n`);
  });
  process.stdin.setEncoding('utf8');
  let mark = process.cpuUsage();
  for await (const line of process.stdin) {
    // The monotonic clock in µs too: a CPU profile's sample times are on it.
    if (line.startsWith('mark')) {
      mark = process.cpuUsage();
      process.stdout.write(`marked ${process.hrtime.bigint() / 1000n}\n`);
    }
    if (line.startsWith('cpu')) {
      const u = process.cpuUsage(mark);
      process.stdout.write(`cpu ${(u.user + u.system) / 1e6} ${process.hrtime.bigint() / 1000n}\n`);
    }
    if (line.startsWith('close')) break;
  }
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  for (const close of closers) await close();
  process.stdout.write('closed\n');
  process.exit(0);
}

if (process.argv[1] === self && process.argv[2] === '--serve') {
  await serveChild(process.argv[3]);
}

// ---------------------------------------------------------------- load generator side

function startChild(mode, nodeFlags = []) {
  return startChildServer([...nodeFlags, self, '--serve', mode], { pinCpu: PIN_CPU, nice: 5 });
}

/** 50 paths per connection, cycled: 49 answered with JSON, 1 that throws. */
function requests() {
  const out = [];
  for (let i = 0; i < 50; i++) {
    if (i === 25) out.push({ method: 'GET', path: `/fail/${i}` });
    else if (i % 2 === 0) out.push({ method: 'GET', path: `/users/${1000 + i}` });
    else out.push({ method: 'GET', path: `/orgs/org-${i % 5}/projects/${i}` });
  }
  return out;
}

function load(port, seconds) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, duration: seconds, requests: requests() },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function start(mode, nodeFlags = [], { warm = true } = {}) {
  const { child, next } = startChild(mode, nodeFlags);
  const port = Number((await next()).split(' ')[1]);
  if (warm) await load(port, 3);
  return { mode, child, next, port, requests: 0, seconds: 0, cpu: 0, non2xx: 0, errors: 0 };
}

/** One slice of load on one side, with the CPU its server used meanwhile; answers the slice's figures. */
async function slice(side) {
  side.child.stdin.write('mark\n');
  await side.next();
  const r = await load(side.port, SLICE_SECONDS);
  side.child.stdin.write('cpu\n');
  const figures = {
    requests: r['2xx'] + r.non2xx,
    seconds: r.duration,
    cpu: Number((await side.next()).split(' ')[1]),
  };
  side.cpu += figures.cpu;
  side.requests += figures.requests;
  side.seconds += figures.seconds;
  side.non2xx += r.non2xx;
  side.errors += r.errors + r.timeouts;
  return figures;
}

async function stop(side) {
  side.child.stdin.write('close\n');
  let stats = '';
  for (let line = await side.next(); line !== 'closed'; line = await side.next()) stats = line;
  await new Promise((resolve) => side.child.on('exit', resolve));
  return stats;
}

const isHomingFrame = (frame) => frame.url.includes('/packages/client/dist/');
const isNativeFrame = (frame) => frame.url === '';

/**
 * The share of the instrumented server's CPU spent in Homing's own code: a fresh `homing`
 * server under the same load for PROFILE_SECONDS, with V8's CPU profiler on. Every sample that
 * is not idle is the server's CPU; it counts for Homing when its innermost JavaScript frame is
 * Homing's (V8 built-ins and natives count for the JavaScript that called them, so reading
 * `error.stack` counts for Homing; the collector's samples do not, so what Homing's allocations
 * cost the collector is not counted for it). Samples outside the loaded window (start-up,
 * warm-up, shutdown) are left out. It measures what Homing's functions cost where they run,
 * whatever the noise between processes; it cannot see what instrumenting costs Express's code.
 */
async function profiledHomingShare() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'homing-bench-prof-'));
  try {
    const side = await start('homing', ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250']);
    side.child.stdin.write('mark\n');
    const from = Number((await side.next()).split(' ')[1]);
    const r = await load(side.port, PROFILE_SECONDS);
    side.child.stdin.write('cpu\n');
    const [, cpu, to] = (await side.next()).split(' ').map(Number);
    await stop(side);
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('integrations: the profiled server wrote no .cpuprofile');
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parentOf = new Map();
    for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
    const homingAt = new Map();
    const inHoming = (node) => {
      let known = homingAt.get(node.id);
      if (known === undefined) {
        let n = node;
        while (n !== undefined && isNativeFrame(n.callFrame)) n = parentOf.get(n.id);
        known = n !== undefined && isHomingFrame(n.callFrame);
        homingAt.set(node.id, known);
      }
      return known;
    };
    let t = profile.startTime;
    let busy = 0;
    let homing = 0;
    let window = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i] ?? 0;
      if (t < from || t > to) continue;
      window++;
      const node = byId.get(profile.samples[i]);
      const name = node.callFrame.functionName;
      if (name === '(idle)') continue;
      busy++;
      if (inHoming(node)) homing++;
    }
    if (window === 0) throw new Error('integrations: no profile sample fell in the loaded window');
    const requests = r['2xx'] + r.non2xx;
    return { share: homing / busy, samples: busy, cpuPerRequestUs: (cpu * 1e6) / requests };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * 95 % interval of the pooled with/without ratio (requests per `per`: 'seconds' or 'cpu'), from
 * the pairs resampled with replacement and, within each, its rounds: how far the pooled figure
 * could move with other processes and other moments on the same machine in the same hour. It
 * does not cover a machine that is faster or slower as a whole in another hour, which moves both
 * sides alike. A fixed seed, so the same rounds always give the same interval.
 */
export function bootstrapInterval(pairs, per, resamples = 10_000) {
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let withRequests = 0;
    let withPer = 0;
    let withoutRequests = 0;
    let withoutPer = 0;
    for (let i = 0; i < pairs.length; i++) {
      const { rounds } = pairs[Math.floor(random() * pairs.length)];
      for (let j = 0; j < rounds.length; j++) {
        const round = rounds[Math.floor(random() * rounds.length)];
        withRequests += round.with.requests;
        withPer += round.with[per];
        withoutRequests += round.without.requests;
        withoutPer += round.without[per];
      }
    }
    ratios[r] = withRequests / withPer / (withoutRequests / withoutPer);
  }
  ratios.sort();
  return [ratios[Math.floor(resamples * 0.025)], ratios[Math.ceil(resamples * 0.975) - 1]];
}

export async function run() {
  process.stderr.write(`bench: integrations starts at load average ${os.loadavg()[0].toFixed(1)}\n`);
  const total = (mode) => ({ mode, requests: 0, seconds: 0, cpu: 0, non2xx: 0, errors: 0 });
  const bare = total(SIDES[0]);
  const homing = total(SIDES[1]);
  const pairs = [];
  let stats = '';
  const unpin = pinLoadGenerator(PIN_CPU);
  try {
    for (let p = 0; p < PAIRS; p++) {
      // Alternate which side starts (and warms up) first.
      let withoutSide, withSide;
      if (p % 2 === 0) {
        withoutSide = await start(SIDES[0], [], { warm: false });
        withSide = await start(SIDES[1], [], { warm: false });
      } else {
        withSide = await start(SIDES[1], [], { warm: false });
        withoutSide = await start(SIDES[0], [], { warm: false });
      }
      // Warmed in turns, ABBA, once both run: warming one whole before starting the other left
      // the first idle through the other's warm-up, and in A/A runs the side started second
      // then served 3-6 % more.
      const first = p % 2 === 0 ? withoutSide : withSide;
      const second = first === withoutSide ? withSide : withoutSide;
      for (const side of [first, second, second, first, first, second]) await load(side.port, 1);
      const rounds = [];
      for (let i = 0; i < ROUNDS; i++) {
        const round = {};
        if (CONCURRENT) {
          [round.without, round.with] = await Promise.all([slice(withoutSide), slice(withSide)]);
        } else {
          // One app loaded at a time, in the order ABBA..., so a drift in the machine's speed
          // falls on both alike.
          const order = i % 2 === 0 ? [withoutSide, withSide] : [withSide, withoutSide];
          for (const side of order) round[side === withSide ? 'with' : 'without'] = await slice(side);
        }
        rounds.push(round);
      }
      stats = await stop(withSide);
      await stop(withoutSide);
      pairs.push({
        rps: withSide.requests / withSide.seconds / (withoutSide.requests / withoutSide.seconds),
        cpu: withSide.requests / withSide.cpu / (withoutSide.requests / withoutSide.cpu),
        rounds,
      });
      for (const [sum, side] of [
        [bare, withoutSide],
        [homing, withSide],
      ]) {
        for (const k of ['requests', 'seconds', 'cpu', 'non2xx', 'errors']) sum[k] += side[k];
      }
    }
  } finally {
    unpin();
  }
  const range = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  const interval = (measure) => {
    const [low, high] = bootstrapInterval(pairs, measure);
    return `${low.toFixed(2)}–${high.toFixed(2)}`;
  };
  const spread = {
    rps: `ranged ${range(pairs.map((p) => p.rps))}; 95 % bootstrap interval ${interval('seconds')}`,
    cpu: `ranged ${range(pairs.map((p) => p.cpu))}; 95 % bootstrap interval ${interval('cpu')}`,
  };
  process.stderr.write(
    `bench: integrations per pair with/without: req/s ${pairs.map((r) => r.rps.toFixed(3)).join(' ')}; ` +
      `per CPU-s ${pairs.map((r) => r.cpu.toFixed(3)).join(' ')}\n`,
  );
  const rps = (s) => s.requests / s.seconds;
  const perCpu = (s) => s.requests / s.cpu;
  for (const s of [bare, homing]) {
    process.stderr.write(
      `bench: integrations ${s.mode}: ${rps(s).toFixed(0)} req/s, ${perCpu(s).toFixed(0)} req per CPU-s, ` +
        `${s.requests} requests (${s.non2xx} 500s), ${s.errors} errors\n`,
    );
  }
  process.stderr.write(
    `bench: integrations with/without: ${(rps(homing) / rps(bare)).toFixed(3)} (wall clock), ` +
      `${(perCpu(homing) / perCpu(bare)).toFixed(3)} (per CPU-second); 95 % intervals ${interval('seconds')} ` +
      `and ${interval('cpu')}; homing client ${stats}\n`,
  );
  if (SIDES.join() !== 'bare,homing') {
    process.stderr.write(
      `bench: integrations ${SIDES[1]} against ${SIDES[0]}: not written to BENCHMARKS.md\n`,
    );
    return [];
  }
  const profiled = await profiledHomingShare();
  process.stderr.write(
    `bench: integrations profiled: Homing's code ${(profiled.share * 100).toFixed(2)} % of ${profiled.samples} ` +
      `non-idle samples (${profiled.cpuPerRequestUs.toFixed(0)} µs CPU per request under the profiler)\n`,
  );
  const competitor = 'same app without Homing';
  return [
    {
      work: `Express app, requests/s with instrumentExpress + homingExpressErrorHandler (real client; ${PAIRS} pairs ${spread.rps})`,
      homing: rps(homing),
      competitor,
      competitorValue: rps(bare),
      unit: 'req/s',
      better: 'higher',
      goal: '>= 0.97x',
    },
    {
      work: `same, requests per CPU-second of the server process (pairs ${spread.cpu})`,
      homing: perCpu(homing),
      competitor,
      competitorValue: perCpu(bare),
      unit: 'req/CPU-s',
      better: 'higher',
      goal: '>= 0.97x',
    },
    {
      work: 'same, server CPU per request',
      homing: 1e6 / perCpu(homing),
      competitor,
      competitorValue: 1e6 / perCpu(bare),
      unit: 'µs',
      better: 'lower',
      goal: '',
    },
    {
      // Homing's code costs `share` of the instrumented server's CPU: without it, the same
      // requests would take (1 - share) of the time, which is the ratio.
      work: `profiled: server CPU per request (under the profiler) and the same without the ${(profiled.share * 100).toFixed(1)} % of its non-idle samples in Homing's code (${profiled.samples} samples, ${PROFILE_SECONDS} s)`,
      homing: profiled.cpuPerRequestUs,
      competitor: "the same, less Homing's code",
      competitorValue: profiled.cpuPerRequestUs * (1 - profiled.share),
      unit: 'µs',
      better: 'lower',
      goal: 'in situ estimate',
    },
  ];
}
