import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, failingInserts, logCapture, post, startServerOn, type Running } from './harness.js';

interface Line {
  level: number;
  msg: string;
  req?: { method: string; route: string };
  res?: { statusCode: number };
  responseTime?: number;
  kind?: string;
  alsoSinceLastLine?: number;
}

/** pino's info level: what `homing serve` writes by default. */
const INFO = 30;

describe('request logs at info: one line per request, refusals summarised', () => {
  let s: Running;
  const log = logCapture();
  const failing = { on: false };
  const lines = (): Line[] =>
    log
      .text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  beforeAll(async () => {
    s = await startServerOn(
      'sqlite',
      { logger: { level: 'info', stream: log.stream } },
      failingInserts(failing),
    );
  });
  afterAll(async () => {
    await s?.close();
  });

  it('an accepted request writes exactly one line: method, route pattern, status, duration', async () => {
    const before = lines().length;
    const SECRET = 'prop-value-9c2e';
    const answer = await post(
      `${s.url}/ingest?x=${SECRET}`,
      [{ event: 'e', distinct_id: `d-${SECRET}`, properties: { p: SECRET } }],
      bearer(s.project.writeKey),
    );
    expect(answer.status).toBe(202);
    await expect.poll(() => lines().length).toBeGreaterThan(before);
    const mine = lines().slice(before);
    expect(mine).toEqual([
      expect.objectContaining({
        level: INFO,
        msg: 'request completed',
        req: { method: 'POST', route: '/ingest' },
        res: { statusCode: 202 },
        responseTime: expect.any(Number),
      }),
    ]);
    expect(log.text()).not.toContain(SECRET);
    expect(log.text()).not.toContain(s.project.writeKey);
  });

  it('a client repeating a wrong key, and a store answering 503, write a bounded number of lines', async () => {
    const before = lines().length;
    const N = 200;
    const WRONG = 'hw_wrong-key-5d7a';
    for (let i = 0; i < N; i++) {
      const r = await post(`${s.url}/ingest`, [{ event: 'e', distinct_id: 'x' }], bearer(WRONG));
      expect(r.status).toBe(401);
    }
    failing.on = true;
    try {
      for (let i = 0; i < N; i++) {
        const r = await post(
          `${s.url}/ingest`,
          [{ event: 'e', distinct_id: 'x' }],
          bearer(s.project.writeKey),
        );
        expect(r.status).toBe(503);
      }
    } finally {
      failing.on = false;
    }
    // The last request's line (if any) is written after its answer.
    await new Promise((r) => setTimeout(r, 50));
    const mine = lines().slice(before);
    // Within one interval: one line for the 401s; the 503s' own line and the storage error's.
    expect(mine.length).toBeLessThanOrEqual(3);
    expect(mine).toContainEqual(
      expect.objectContaining({
        req: { method: 'POST', route: '/ingest' },
        res: { statusCode: 401 },
        kind: 'unknown-key',
      }),
    );
    expect(mine).toContainEqual(
      expect.objectContaining({
        req: { method: 'POST', route: '/ingest' },
        res: { statusCode: 503 },
        kind: 'storage',
      }),
    );
    expect(log.text()).not.toContain(WRONG);
    expect(log.text()).not.toContain(s.project.adminKey);
  });
});
