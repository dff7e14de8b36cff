import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { logCapture, type Running, startServerOn } from './harness.js';

/**
 * Requests Node refuses before any route sees them (bytes that are not HTTP, a body not received
 * within requestTimeoutMs) and uploads cut short: what the client is answered, what the logs say
 * (never the request's bytes) and what /metrics counts.
 */

const SECRET = 'hw_SECRET-7c1e-key';
const BODY_SECRET = 'PERSONAL-9d2f-body';

/**
 * Writes `raw` on a new connection; resolves with everything answered once the server closes it.
 * After `closeAfterMs` the client destroys the connection, or with `halfClose` ends its side only.
 */
function exchange(port: number, raw: string, closeAfterMs?: number, halfClose = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(raw);
      if (closeAfterMs !== undefined)
        setTimeout(() => (halfClose ? socket.end() : socket.destroy()), closeAfterMs);
    });
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
}

interface LogLine {
  msg: string;
  kind?: string;
  status?: number;
  code?: string;
  bodyReceived?: boolean;
}

/** The one line of an upload its client left mid-body (abortedRequests.ts). */
const ABORTED = 'request aborted: the client closed the connection';

describe('requests refused before routing, and uploads cut short', () => {
  let s: Running | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  async function start(requestTimeoutMs: number) {
    const log = logCapture();
    s = await startServerOn('sqlite', {
      logger: { level: 'trace', stream: log.stream },
      requestTimeoutMs,
      rateLimit: false,
    });
    const port = Number(new URL(s.url).port);
    const lines = (): LogLine[] =>
      log
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogLine);
    const requestsCounted = async (): Promise<string[]> =>
      (await (await fetch(`${s!.url}/metrics`)).text())
        .split('\n')
        .filter((l) => l.startsWith('homing_http_requests_total{route="client-error"'));
    return { port, log, lines, requestsCounted };
  }

  it('a malformed chunked request at trace level: answered 400 and closed, its bytes in no log line', async () => {
    const { port, log, lines, requestsCounted } = await start(0);
    const answer = await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\n` +
        `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `zz\r\n[{"event":"${BODY_SECRET}"}]\r\n0\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"error":"invalid-request"');
    expect(lines()).toContainEqual(expect.objectContaining({ msg: 'client error answered', status: 400 }));
    expect(log.text()).not.toContain(SECRET);
    expect(log.text()).not.toContain(BODY_SECRET);
    expect(log.text()).not.toContain('rawPacket');
    expect(await requestsCounted()).toEqual([
      'homing_http_requests_total{route="client-error",method="unknown",status="400"} 1',
    ]);
  });

  it('a body not received within requestTimeoutMs: 408 counted, logged as a timeout, not as malformed', async () => {
    const { port, lines, requestsCounted } = await start(300);
    const answer = await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"ev`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    await expect
      .poll(() => lines().filter((l) => l.msg === 'ingest request body not received'))
      .toEqual([expect.objectContaining({ kind: 'timeout' })]);
    expect(lines().filter((l) => l.msg === 'ingest request refused')).toEqual([]);
    expect(await requestsCounted()).toEqual([
      'homing_http_requests_total{route="client-error",method="unknown",status="408"} 1',
    ]);
  });

  it('an upload the client abandons is logged as aborted, once, not as a malformed 400', async () => {
    const { port, lines } = await start(0);
    await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"ev`,
      100,
    );
    await expect
      .poll(() => lines().filter((l) => l.msg === ABORTED))
      .toEqual([expect.objectContaining({ bodyReceived: false })]);
    expect(lines().filter((l) => l.msg === 'ingest request refused')).toEqual([]);
    expect(lines().filter((l) => l.msg === 'ingest request body not received')).toEqual([]);
  });

  it('a request pipelined after a valid one that is not HTTP: the valid one is answered 202, then the connection closes', async () => {
    const { port } = await start(0);
    const body = JSON.stringify([{ event: 'pipelined', distinct_id: 'p1' }]);
    const answer = await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s!.project.writeKey}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        'THIS IS NOT HTTP\r\n\r\n',
    );
    // A 400 written at once took the place of the 202 (the event was stored all the same).
    expect(answer).toMatch(/^HTTP\/1\.1 202 /);
    expect(answer).not.toContain('HTTP/1.1 400');
    const stored = await fetch(`${s!.url}/api/events?distinct_id=p1`, {
      headers: { authorization: `Bearer ${s!.project.adminKey}` },
    });
    expect(((await stored.json()) as { events: unknown[] }).events).toHaveLength(1);
  });

  it('an upload the client ends half-way (its side closed mid-body) is not answered nor counted as a 400', async () => {
    const { port, lines, requestsCounted } = await start(0);
    const answer = await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"ev`,
      100,
      true,
    );
    await expect
      .poll(() => lines().filter((l) => l.msg === ABORTED))
      .toEqual([expect.objectContaining({ bodyReceived: false })]);
    expect(answer).toBe('');
    expect(await requestsCounted()).toEqual([]);
  });
});
