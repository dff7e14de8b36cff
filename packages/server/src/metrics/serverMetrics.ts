import { Counter, Histogram, Registry } from 'prom-client';

/**
 * The server's Prometheus metrics, in a registry of its own per server (several servers in
 * one process, as in tests, do not share counters).
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'homing_http_requests_total',
    help: 'HTTP requests answered, by route pattern (client-error: refused by Node before routing), method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'homing_ingest_events_total',
    help: 'Events received, by wire format and outcome (accepted, duplicate, rejected, erased; refused: in a request refused whole for its size, key or rate limit)',
    labelNames: ['format', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly ingestDuration = new Histogram({
    name: 'homing_ingest_duration_seconds',
    help: 'Time from an ingest request arriving to its answer, by wire format',
    labelNames: ['format'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly storeWriteDuration = new Histogram({
    name: 'homing_store_write_duration_seconds',
    help: 'Time the store took for one batch (insertEvents), by outcome: committed, or failed (refused, timed out, unreachable)',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly storeFailures = new Counter({
    name: 'homing_store_failures_total',
    help: 'Requests answered 503 because the store failed (a write, a key lookup, an admin read), by the store error kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
}
