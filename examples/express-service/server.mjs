// A small Express service instrumented with Homing: request timings per route, errors with
// breadcrumbs, a health check of a dependency, feature usage and an AI-style operation, all
// sent to a Homing server through the durable outbox.
//
//   HOMING_URL=http://127.0.0.1:8090 HOMING_KEY=<write key> PORT=3000 node examples/express-service/server.mjs
import express from 'express';
import { createTelemetry } from '@homing/client';
import { homingExpress, homingExpressErrorHandler } from '@homing/client/integrations';

if (!process.env.HOMING_KEY) {
  // The client would refuse an empty key with a stack trace; say what to do instead.
  console.error(
    'HOMING_KEY is not set: set it to the write key `homing serve` printed on its first start (`npx homing projects list` shows it again).',
  );
  process.exit(1);
}

let telemetry;
try {
  telemetry = createTelemetry({
    endpoints: [
      {
        destination: 'homing',
        host: process.env.HOMING_URL ?? 'http://127.0.0.1:8090',
        key: process.env.HOMING_KEY,
      },
    ],
    name: 'example-express-service',
    directory: process.env.HOMING_OUTBOX_DIR, // default: the user's cache directory
    superProperties: { service: 'orders' },
    errors: { captureUnhandled: true, consoleBreadcrumbs: true },
    performance: { flushIntervalMs: Number(process.env.HOMING_SUMMARY_MS ?? 60_000) },
  });
} catch (error) {
  // A bad option names itself (HOMING_URL without http://, say): the message, not a stack trace.
  console.error(`Cannot start telemetry: ${error.message}`);
  process.exit(1);
}

// A dependency to watch: here the service's own storage, which "fails" while ORDERS_DOWN=1.
telemetry.registerService('orders-db', async () => ({ ok: process.env.ORDERS_DOWN !== '1' }), {
  critical: true,
  intervalMs: 30_000,
});

const orders = new Map([['1', { id: '1', total: 42 }]]);
const app = express();
app.use(express.json());
app.use(homingExpress(telemetry));

app.get('/orders/:id', (req, res) => {
  const order = orders.get(req.params.id);
  if (!order) return res.status(404).json({ error: 'not found' });
  telemetry.trackFeature('orders.view', 'used', { userId: req.get('x-user') ?? 'anonymous' });
  res.json(order);
});

app.post('/orders/:id/summary', async (req, res) => {
  // Design 003's AI operation: each numeric field is aggregated into its own histogram.
  const started = performance.now();
  const summary = `Order ${req.params.id}: ${JSON.stringify(orders.get(req.params.id) ?? {})}`;
  telemetry.trackOperation({
    name: 'ai.summary',
    durationMs: performance.now() - started,
    tokens: summary.length,
  });
  telemetry.trackProviderRequest('local-model', performance.now() - started, true, summary.length);
  res.json({ summary });
});

app.get('/boom', () => {
  console.log('about to fail'); // becomes a breadcrumb on the error below
  throw new Error('order 17 failed to load');
});

app.use(homingExpressErrorHandler(telemetry));
app.use((error, _req, res, _next) => res.status(500).json({ error: error.message }));

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, '127.0.0.1', async (error) => {
  if (error) {
    // Express 5 hands the listen error here (EADDRINUSE: another process has the port).
    console.error(`Cannot listen on 127.0.0.1:${port}: ${error.message}; set PORT to a free port`);
    await telemetry.shutdown({ timeoutMs: 2_000 });
    process.exit(1);
  }
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

// On SIGTERM: stop taking requests, then flush what was recorded (or leave it in the outbox).
process.once('SIGTERM', () => {
  server.close(async () => {
    await telemetry.shutdown({ timeoutMs: 5_000 });
    process.exit(0);
  });
});
