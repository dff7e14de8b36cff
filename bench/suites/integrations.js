// Design 003's overhead target (< 5 %) on a realistic loop: an Express app in a child process
// under autocannon (in this process), with and without Homing: the real client
// (createTelemetry, memory outbox, a custom destination that discards), the error and
// performance trackers on its feature host, instrumentExpress timing every request (what the
// integrations README recommends) and homingExpressErrorHandler capturing the 2 % of requests
// that throw. Several pairs of fresh server processes, both servers pinned to one CPU and the
// load generator to the other, loaded one at a time in ABBA order; throughput is also given per
// CPU-second of each server process.
import { spawn, spawnSync } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { IncomingMessage } from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { nsPerSyncCall } from '../lib/report.js';

/**
 * Process pairs, each a fresh app of each side: two processes running the same code differ by
 * several per cent in CPU per request (JIT decisions, memory layout), so one pair cannot tell a
 * 3 % difference; several pairs, pooled, can come close.
 */
const PAIRS = Number(process.env.HOMING_BENCH_INTEGRATIONS_PAIRS ?? 6);
/** Seconds of load per side and pair, in slices of SLICE_SECONDS. */
const SECONDS = Number(process.env.HOMING_BENCH_INTEGRATIONS_SECONDS ?? 10);
const SLICE_SECONDS = Number(process.env.HOMING_BENCH_INTEGRATIONS_SLICE_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.HOMING_BENCH_INTEGRATIONS_CONNECTIONS ?? 10);
const SLICES = Math.max(1, Math.round(SECONDS / SLICE_SECONDS));
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

function hasTaskset() {
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins this process (all its threads) to every CPU but PIN_CPU; answers how to undo it. */
function pinLoadGenerator() {
  if (PIN_CPU === '') return () => {};
  const was = /: ([0-9a-f]+)\s*$/.exec(spawnSync('taskset', ['-p', String(process.pid)]).stdout.toString());
  const others = os
    .cpus()
    .map((_, i) => i)
    .filter((i) => String(i) !== PIN_CPU)
    .join(',');
  spawnSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' });
  return () => {
    if (was !== null) spawnSync('taskset', ['-a', '-p', was[1], String(process.pid)], { stdio: 'ignore' });
  };
}

/**
 * The two apps set against each other (first is the baseline), to find where a difference comes
 * from: `bare`, `homing` (the default pair), `middleware` (`homing` timed by the homingExpress
 * middleware instead of instrumentExpress), `client` (the client and trackers loaded and running,
 * nothing timed), `timing` (`homing` without the error handler), `noop` (instrumentExpress and the
 * error handler on a telemetry that does nothing), `empty` (a middleware that only calls `next()`:
 * what any middleware costs Express), `traced` (the bare app with a subscriber that does nothing on the
 * router's `express.router.request` tracing channel), `httpdc` (the bare app with subscribers that
 * do nothing on Node's `http.server.request.start` and `http.server.response.finish` channels).
 * Only the default pair is written to BENCHMARKS.md.
 */
const SIDES = (process.env.HOMING_BENCH_INTEGRATIONS_SIDES ?? 'bare,homing').split(',');
const MODES = ['bare', 'homing', 'middleware', 'client', 'timing', 'noop', 'empty', 'traced', 'httpdc'];
if (SIDES.length !== 2 || !SIDES.every((m) => MODES.includes(m))) {
  throw new Error(`HOMING_BENCH_INTEGRATIONS_SIDES must be two of ${MODES.join(', ')}, comma-separated`);
}
const self = fileURLToPath(import.meta.url);

export const title =
  'Integrations: Express throughput with and without Homing (instrumentExpress + error capture)';
export const notes = [
  `autocannon in the bench process, ${CONNECTIONS} connections, on 127.0.0.1; each app in a child process (nice 5).`,
  `${PAIRS} pairs of fresh processes (which side starts first alternates), each app loaded ${SLICES} x ${SLICE_SECONDS} s after a`,
  `3 s warm-up, ${CONCURRENT ? 'both at once' : 'one at a time in ABBA order'}; ${PIN_CPU === '' ? 'no CPU pinning' : `both servers on CPU ${PIN_CPU}, the load generator on the others`}; totals pooled over`,
  'all pairs. Two processes of the same app differ by several per cent in CPU per request, so one pair',
  'cannot show a 3 % difference: the same method run bare against bare gave 1.000 pooled over 4 pairs,',
  'single pairs 0.96–1.03. The method moves the result: for the same code, both apps loaded at once',
  '(`HOMING_BENCH_INTEGRATIONS_CONCURRENT=1`) read 0.92–0.96 in three runs, one at a time unpinned',
  '0.90 (one run, single pairs 0.82–0.99), one at a time pinned 0.97 (one run, single pairs 0.91–1.10).',
  'The app: JSON answers from GET /users/:id, GET /orgs/:org/projects/:pid (a mounted router) and',
  'POST-free reads; 1 request in 50 throws (Express answers 500). With Homing: createTelemetry',
  '(memory outbox, custom destination that discards), createErrorTracker and',
  'createPerformanceTracker (summaries every 5 s, runtime metrics off) on its feature host,',
  'instrumentExpress on the app (no middleware layer: it wraps app.handle) and homingExpressErrorHandler',
  'after the routes. Goal: with / without >= 0.97.',
  "The last row is a lower bound, not the goal's measure: Homing's own functions timed in process",
  "(instrumentExpress's wrapper, the route accessor, the close listener, timing() into the real",
  "performance tracker) added to the bare app's CPU per request. It leaves out what the instrumentation",
  "costs Express's own code and the process (property lookups through a prototype with an accessor,",
  'a listener on every response, a larger heap), which the rows above include.',
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
  if (mode === 'httpdc') {
    dc.subscribe('http.server.request.start', () => {});
    dc.subscribe('http.server.response.finish', () => {});
  }
  if (mode === 'noop') {
    const integrations = await import('../../packages/client/dist/integrations/index.js');
    const noop = { captureError: () => undefined, addBreadcrumb() {}, timing() {}, track() {} };
    integrations.instrumentExpress(app, noop);
    app.locals.errorHandler = integrations.homingExpressErrorHandler(noop);
  }
  if (mode === 'homing' || mode === 'middleware' || mode === 'client' || mode === 'timing') {
    const client = await import('../../packages/client/dist/index.node.js');
    const { createErrorTracker } = await import('../../packages/client/dist/features/errors/index.js');
    const { createPerformanceTracker } =
      await import('../../packages/client/dist/features/performance/index.js');
    const integrations = await import('../../packages/client/dist/integrations/index.js');
    const c = client.createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => {} }],
      storage: 'memory',
      distinctId: 'bench',
    });
    const host = c.featureHost();
    const errors = createErrorTracker(host);
    const performance = createPerformanceTracker(host, { flushIntervalMs: 5_000, runtime: 'off' });
    telemetry = {
      captureError: (error, context) => errors.captureError(error, context),
      addBreadcrumb: (crumb) => errors.addBreadcrumb(crumb),
      timing: (name, ms, tags) => performance.timing(name, ms, tags),
      track: (event, properties) => c.track(event, properties),
    };
    if (mode === 'middleware') app.use(integrations.homingExpress(telemetry));
    else if (mode !== 'client') integrations.instrumentExpress(app, telemetry);
    closers.push(
      () => performance.close(),
      () => errors.close(),
      async () => {
        const stats = await c.stats();
        process.stdout.write(`stats ${stats.tracked} ${stats.sent}\n`);
        await c.shutdown({ timeoutMs: 2000 });
      },
    );
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
    if (line.startsWith('mark')) {
      mark = process.cpuUsage();
      process.stdout.write('marked\n');
    }
    if (line.startsWith('cpu')) {
      const u = process.cpuUsage(mark);
      process.stdout.write(`cpu ${(u.user + u.system) / 1e6}\n`);
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

function startChild(mode) {
  const pin = PIN_CPU === '' ? [] : ['taskset', '-c', PIN_CPU];
  const [command, ...args] = [...pin, 'nice', '-n', '5', process.execPath, self, '--serve', mode];
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let buf = '';
  const lines = [];
  const waiters = [];
  child.stdout.on('data', (d) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const l of parts) {
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const next = () =>
    lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise((r) => waiters.push(r));
  return { child, next };
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

async function start(mode) {
  const { child, next } = startChild(mode);
  const port = Number((await next()).split(' ')[1]);
  await load(port, 3);
  return { mode, child, next, port, requests: 0, seconds: 0, cpu: 0, non2xx: 0, errors: 0 };
}

/** One slice of load on one side, with the CPU its server used meanwhile. */
async function slice(side) {
  side.child.stdin.write('mark\n');
  await side.next();
  const r = await load(side.port, SLICE_SECONDS);
  side.child.stdin.write('cpu\n');
  side.cpu += Number((await side.next()).split(' ')[1]);
  side.requests += r['2xx'] + r.non2xx;
  side.seconds += r.duration;
  side.non2xx += r.non2xx;
  side.errors += r.errors + r.timeouts;
}

async function stop(side) {
  side.child.stdin.write('close\n');
  let stats = '';
  for (let line = await side.next(); line !== 'closed'; line = await side.next()) stats = line;
  await new Promise((resolve) => side.child.on('exit', resolve));
  return stats;
}

/** ns of Homing's own work per request: instrumentExpress's wrapper, route matching seen, close, timing(). */
async function homingWorkPerRequest() {
  const { createPerformanceTracker } =
    await import('../../packages/client/dist/features/performance/index.js');
  const integrations = await import('../../packages/client/dist/integrations/index.js');
  const host = {
    track() {},
    persist: async () => {},
    logger: { debug() {}, warn() {}, error() {} },
    now: Date.now,
  };
  const performance = createPerformanceTracker(host, { flushIntervalMs: 0, runtime: 'off' });
  // Shaped like Express's: a node:http request whose prototype is swapped for the app's request
  // prototype (own `app`) in app.handle, as Express does per request (which leaves it in
  // dictionary mode). The bare app has a prototype of its own, without Homing's route accessor.
  const appPrototype = () =>
    Object.create(IncomingMessage.prototype, { app: { value: {}, enumerable: true } });
  const fakeApp = (request) => ({
    request,
    handle(req) {
      Object.setPrototypeOf(req, request);
    },
  });
  const app = fakeApp(appPrototype());
  const bareApp = fakeApp(appPrototype());
  integrations.instrumentExpress(app, {
    timing: (name, ms, tags) => performance.timing(name, ms, tags),
    captureError: () => undefined,
  });
  const fields = [
    'httpVersion',
    'complete',
    'rawHeaders',
    'headers',
    'url',
    'method',
    'socket',
    'res',
    'next',
    'query',
  ];
  const routes = [{ path: '/users/:id' }, { path: '/projects/:pid' }];
  const next = () => {};
  const loop = (withHoming) =>
    nsPerSyncCall(
      (i) => {
        const req = Object.create(IncomingMessage.prototype);
        for (const f of fields) req[f] = f === 'method' ? 'GET' : f;
        let close;
        const res = { req, statusCode: 200, writableFinished: true, on: (_e, fn) => void (close = fn) };
        (withHoming ? app : bareApp).handle(req, res, next);
        req.baseUrl = '';
        req.params = {};
        const route = routes[i & 1];
        if (i & 1) {
          req.baseUrl = '/orgs/acme';
          req.params = { org: 'acme' };
        }
        req.route = route;
        req.route = route;
        if (withHoming) close.call(res);
      },
      { warmup: 20_000, batch: 20_000, rounds: 11 },
    );
  // The same request built and routed without Homing, measured alike and taken away.
  loop(true);
  const ns = Math.max(0, loop(true) - loop(false));
  await performance.close();
  // A captured error, amortised over the 50 requests it comes with in the load above: the
  // handler's capture of a thrown error (stack parsed, grouped, deduplicated), minus the throw.
  const { createErrorTracker } = await import('../../packages/client/dist/features/errors/index.js');
  const errors = createErrorTracker(host);
  const handler = integrations.homingExpressErrorHandler({ captureError: errors.captureError, timing() {} });
  const deep = (n) => {
    if (n === 0) throw new Error(`order ${n} failed`);
    return deep(n - 1);
  };
  const errorReq = Object.assign(Object.create(app.request), { method: 'GET', baseUrl: '', params: {} });
  const throwOnly = nsPerSyncCall(
    () => {
      try {
        deep(15);
      } catch {}
    },
    { warmup: 1000, batch: 2000, rounds: 7 },
  );
  const throwAndCapture = nsPerSyncCall(
    () => {
      try {
        deep(15);
      } catch (error) {
        handler(error, errorReq, { statusCode: 200, locals: {} }, next);
      }
    },
    { warmup: 1000, batch: 2000, rounds: 7 },
  );
  await errors.close();
  return { ns, captureNs: Math.max(0, throwAndCapture - throwOnly) };
}

export async function run() {
  process.stderr.write(`bench: integrations starts at load average ${os.loadavg()[0].toFixed(1)}\n`);
  const total = (mode) => ({ mode, requests: 0, seconds: 0, cpu: 0, non2xx: 0, errors: 0 });
  const bare = total(SIDES[0]);
  const homing = total(SIDES[1]);
  const pairs = [];
  let stats = '';
  const unpin = pinLoadGenerator();
  try {
    for (let p = 0; p < PAIRS; p++) {
      // Alternate which side starts (and warms up) first.
      let withoutSide, withSide;
      if (p % 2 === 0) {
        withoutSide = await start(SIDES[0]);
        withSide = await start(SIDES[1]);
      } else {
        withSide = await start(SIDES[1]);
        withoutSide = await start(SIDES[0]);
      }
      for (let i = 0; i < SLICES; i++) {
        if (CONCURRENT) await Promise.all([slice(withoutSide), slice(withSide)]);
        else {
          // One app loaded at a time, in the order ABBA..., so a drift in the machine's speed
          // falls on both alike.
          const order = i % 2 === 0 ? [withoutSide, withSide] : [withSide, withoutSide];
          for (const side of order) await slice(side);
        }
      }
      stats = await stop(withSide);
      await stop(withoutSide);
      pairs.push({
        rps: withSide.requests / withSide.seconds / (withoutSide.requests / withoutSide.seconds),
        cpu: withSide.requests / withSide.cpu / (withoutSide.requests / withoutSide.cpu),
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
  const spread = { rps: range(pairs.map((p) => p.rps)), cpu: range(pairs.map((p) => p.cpu)) };
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
      `${(perCpu(homing) / perCpu(bare)).toFixed(3)} (per CPU-second); homing client ${stats}\n`,
  );
  if (SIDES.join() !== 'bare,homing') {
    process.stderr.write(
      `bench: integrations ${SIDES[1]} against ${SIDES[0]}: not written to BENCHMARKS.md\n`,
    );
    return [];
  }
  const work = await homingWorkPerRequest();
  const workNs = work.ns + work.captureNs / 50;
  process.stderr.write(
    `bench: integrations Homing work in process: ${(work.ns / 1000).toFixed(2)} µs per request, ` +
      `${(work.captureNs / 1000).toFixed(1)} µs per captured error\n`,
  );
  const competitor = 'same app without Homing';
  return [
    {
      work: `Express app, requests/s with instrumentExpress + homingExpressErrorHandler (real client; ${PAIRS} pairs ranged ${spread.rps})`,
      homing: rps(homing),
      competitor,
      competitorValue: rps(bare),
      unit: 'req/s',
      better: 'higher',
      goal: '>= 0.97x',
    },
    {
      work: `same, requests per CPU-second of the server process (pairs ranged ${spread.cpu})`,
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
      // Ratio: the bare app's CPU per request with Homing's own work added, against without.
      work: `Homing's own work per request in process (${(work.ns / 1000).toFixed(1)} µs, + ${(work.captureNs / 1000).toFixed(0)} µs per captured error / 50), added to the bare app's CPU per request`,
      homing: 1e6 / perCpu(bare) + workNs / 1000,
      competitor,
      competitorValue: 1e6 / perCpu(bare),
      unit: 'µs',
      better: 'lower',
      goal: 'lower bound',
    },
  ];
}
