import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import { silentLogger } from '../logger.js';
import { createNodePlatform } from '../platform/node.js';
import type { TelemetryOptions } from './options.js';

/**
 * An ingest endpoint that keeps idle connections for ten minutes (a server that never times
 * them out, as far as a test can tell): a connection it sees close was closed by the client.
 */
class PatientSink {
  events = 0;
  readonly closed: Array<Promise<unknown>> = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { batch } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { batch: unknown[] };
      this.events += batch.length;
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: batch.length, duplicates: 0, rejected: [] }));
    });
  });

  async start(): Promise<this> {
    this.server.keepAliveTimeout = 600_000;
    this.server.on('connection', (socket: Socket) =>
      this.closed.push(new Promise((resolve) => socket.once('close', resolve))),
    );
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  connections(): Promise<number> {
    return new Promise((resolve, reject) =>
      this.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const sinks: PatientSink[] = [];
afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.stop();
});

async function patientSink(): Promise<PatientSink> {
  const sink = await new PatientSink().start();
  sinks.push(sink);
  return sink;
}

function options(sink: PatientSink, extra: Partial<TelemetryOptions> = {}): TelemetryOptions {
  return {
    endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
    storage: 'memory',
    logger: silentLogger,
    delivery: { gzip: false },
    ...extra,
  };
}

describe('the connections a client keeps alive', () => {
  it('are closed by shutdown() on the platform the client made (the server sees them close)', async () => {
    const sink = await patientSink();
    const client = createTelemetry(options(sink));
    client.track('job.done');
    await client.shutdown();
    expect(sink.events).toBe(1);
    expect(sink.closed.length).toBeGreaterThan(0);
    // Waits as long as the test may: a connection the client kept is never closed by this server.
    await Promise.all(sink.closed);
    expect(await sink.connections()).toBe(0);
  });

  it('leave no open connection behind 50 clients created and shut down in one process', async () => {
    const sink = await patientSink();
    for (let i = 0; i < 50; i++) {
      const client = createTelemetry(options(sink));
      client.track('tenant.job', { i });
      await client.shutdown();
    }
    expect(sink.events).toBe(50);
    await Promise.all(sink.closed);
    expect(await sink.connections()).toBe(0);
  });

  it('are left to the app on a platform it passed (other clients may be using it)', async () => {
    const sink = await patientSink();
    const shared = createNodePlatform();
    let closes = 0;
    const platform = { ...shared, close: () => void closes++ };
    const first = createTelemetry(options(sink, { platform }));
    first.track('a');
    await first.shutdown();
    expect(closes).toBe(0);
    // The platform still sends for the next client, over the connection it kept.
    const second = createTelemetry(options(sink, { platform }));
    second.track('b');
    await second.shutdown();
    expect(sink.events).toBe(2);
    expect(await sink.connections()).toBe(1);
    shared.close?.();
    await Promise.all(sink.closed);
  });
});
