// The Fastify plugin's cost per request: the same small Fastify app bare, with homingFastify
// timing answered requests only (`timeAborted: false`), and with its defaults (aborted requests
// timed too, which takes an onRequest and an onRequestAbort hook per request). Server CPU per
// request, each app in a fresh child process pinned to one CPU, the load generator on the others.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { hasTaskset, pinLoadGenerator, startChildServer } from '../lib/childServer.js';

const PROCESSES = Number(process.env.HOMING_BENCH_FASTIFY_PROCESSES ?? 3);
const SLICES = Number(process.env.HOMING_BENCH_FASTIFY_SLICES ?? 8);
const SLICE_SECONDS = Number(process.env.HOMING_BENCH_FASTIFY_SLICE_SECONDS ?? 1.5);
const CONNECTIONS = 10;
const self = fileURLToPath(import.meta.url);
const PIN_CPU = os.cpus().length >= 2 && hasTaskset() ? '1' : '';
const SIDES = ['bare', 'hook', 'answered', 'default'];

export const title = 'Integrations: Fastify plugin cost per request (homingFastify)';
export const notes = [
  `autocannon in the bench process, ${CONNECTIONS} connections, on 127.0.0.1. The app: GET /users/:id answering`,
  "`{ id }` (a route that does almost nothing, so the plugin's share is as large as it gets). Sides: bare;",
  'bare with one onResponse hook that only calls `done()` (what Fastify charges for running a hook);',
  'homingFastify with `timeAborted: false` (an onResponse and an onError hook: answered requests timed);',
  'homingFastify with its defaults (also an onRequest and an onRequestAbort hook, for which Fastify puts a',
  '`close` listener on every request, so requests whose client went away are timed as `aborted`). With',
  'Homing: createTelemetry (memory outbox, a custom destination that discards) and createPerformanceTracker',
  `(runtime metrics off). The four apps run in one process, on four ports, and are loaded one at a time:`,
  `${SLICES} slices of ${SLICE_SECONDS} s each after a 2 s warm-up (order alternating), the process's CPU during a slice booked`,
  `to the app loaded (two processes of the same app differ by several per cent; one process holding all four`,
  `does not). ${PROCESSES} such processes, each starting its apps in another order; ${PIN_CPU === '' ? 'unpinned' : `the server on CPU ${PIN_CPU}, the load generator on the others`}.`,
  'Figure: median over the processes of the server CPU per request (process.cpuUsage, pooled over the',
  "slices); ratio = requests per CPU-second against the competitor side. The apps share Fastify's code,",
  'so the bare app also runs hook paths the others made polymorphic: if anything, differences look smaller.',
].join('\n');

// ---------------------------------------------------------------- server (child process) side

/** One app of `side` on its own port; answers its port and how to close it. */
async function startApp(side) {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  let close = async () => {};
  // What Fastify itself charges for running one onResponse hook a request, whatever it does.
  if (side === 'hook') app.addHook('onResponse', (_request, _reply, done) => done());
  if (side === 'answered' || side === 'default') {
    const client = await import('../../packages/client/dist/index.node.js');
    const { createPerformanceTracker } =
      await import('../../packages/client/dist/features/performance/index.js');
    const { createErrorTracker } = await import('../../packages/client/dist/features/errors/index.js');
    const { homingFastify } = await import('../../packages/client/dist/integrations/index.js');
    const c = client.createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => {} }],
      storage: 'memory',
      distinctId: 'bench',
    });
    const host = c.featureHost();
    const performance = createPerformanceTracker(host, { flushIntervalMs: 5_000, runtime: 'off' });
    const errors = createErrorTracker(host);
    const telemetry = {
      timing: (name, ms, tags) => performance.timing(name, ms, tags),
      captureError: (error, context) => errors.captureError(error, context),
    };
    await app.register(homingFastify, { telemetry, ...(side === 'answered' ? { timeAborted: false } : {}) });
    close = async () => {
      performance.close();
      errors.close();
      await c.shutdown({ timeoutMs: 1000 });
    };
  }
  app.get('/users/:id', async (request) => ({ id: request.params.id }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    port: app.server.address().port,
    close: async () => {
      await app.close();
      await close();
    },
  };
}

/** Every side's app in this one process, loaded one at a time by the bench. */
async function serveChild(order) {
  const apps = [];
  for (const side of order) apps.push(await startApp(side));
  process.stdout.write(`ready ${apps.map((a) => a.port).join(' ')}\n`);
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
  for (const a of apps) await a.close();
  process.exit(0);
}

if (process.argv[1] === self && process.argv[2] === '--serve') {
  await serveChild(process.argv[3].split(','));
}

// ---------------------------------------------------------------- load generator side

function startChild(order) {
  return startChildServer([self, '--serve', order.join(',')], { pinCpu: PIN_CPU });
}

function load(port, seconds) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}/users/42`, connections: CONNECTIONS, duration: seconds },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

/**
 * One process holding every side's app: each app warmed, then loaded in turn, one slice at a
 * time (order alternating), with the process's CPU during each slice booked to that app.
 * Answers the pooled server CPU µs per request of each side in this process.
 */
async function measureProcess(order) {
  const { child, next } = startChild(order);
  const ports = (await next()).split(' ').slice(1).map(Number);
  const booked = order.map(() => ({ cpu: 0, requests: 0 }));
  for (const port of ports) await load(port, 2);
  for (let slice = 0; slice < SLICES; slice++) {
    const turn = slice % 2 === 0 ? order.map((_, i) => i) : order.map((_, i) => order.length - 1 - i);
    for (const i of turn) {
      child.stdin.write('mark\n');
      await next();
      const r = await load(ports[i], SLICE_SECONDS);
      child.stdin.write('cpu\n');
      booked[i].cpu += Number((await next()).split(' ')[1]);
      booked[i].requests += r['2xx'] + r.non2xx;
      if (r.non2xx + r.errors + r.timeouts > 0)
        process.stderr.write(`bench: fastify ${order[i]}: failed requests\n`);
    }
  }
  child.stdin.write('close\n');
  await new Promise((resolve) => child.on('exit', resolve));
  return Object.fromEntries(order.map((side, i) => [side, (booked[i].cpu * 1e6) / booked[i].requests]));
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function run() {
  const unpin = pinLoadGenerator(PIN_CPU);
  const perSide = Object.fromEntries(SIDES.map((s) => [s, []]));
  try {
    for (let p = 0; p < PROCESSES; p++) {
      // Each process starts its apps in another order, so no side is always the first one JIT-compiled.
      const order = SIDES.map((_, i) => SIDES[(i + p) % SIDES.length]);
      const us = await measureProcess(order);
      for (const side of SIDES) perSide[side].push(us[side]);
    }
  } finally {
    unpin();
  }
  const us = Object.fromEntries(SIDES.map((s) => [s, median(perSide[s])]));
  const range = (s) => perSide[s].map((v) => v.toFixed(1)).join(', ');
  const row = (work, side, against) => ({
    work: `${work} (per process: ${range(side)} µs; ${against}: ${range(against)} µs)`,
    homing: us[side],
    competitor:
      against === 'bare'
        ? 'same app without Homing'
        : against === 'hook'
          ? 'same app with one no-op onResponse hook'
          : 'homingFastify, timeAborted: false',
    competitorValue: us[against],
    unit: 'µs',
    better: 'lower',
    goal: '',
  });
  return [
    row("server CPU per request, one no-op onResponse hook (Fastify's own cost, no Homing)", 'hook', 'bare'),
    row('server CPU per request, homingFastify with timeAborted: false', 'answered', 'bare'),
    row(
      'server CPU per request, homingFastify with timeAborted: false, beyond a no-op hook',
      'answered',
      'hook',
    ),
    row(
      'server CPU per request, homingFastify with its defaults (aborted requests timed)',
      'default',
      'bare',
    ),
    row('server CPU per request, what timing aborted requests adds', 'default', 'answered'),
  ];
}
