import { describe, expect, it } from 'vitest';
import { BEACON_IN_FLIGHT_MS, KeepaliveBytes } from './keepaliveBytes.js';

describe('KeepaliveBytes', () => {
  it('counts a keepalive fetch until it settles, either way', async () => {
    const bytes = new KeepaliveBytes();
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const ok = new Promise<void>((r) => (resolve = r));
    const failed = new Promise<void>((_, r) => (reject = r));
    bytes.addFetch(40_000, ok);
    bytes.addFetch(10_000, failed);
    expect(bytes.inFlight(0)).toBe(50_000);
    resolve();
    await ok;
    expect(bytes.inFlight(0)).toBe(10_000);
    reject(new TypeError('Failed to fetch'));
    await failed.catch(() => undefined);
    expect(bytes.inFlight(0)).toBe(0);
  });

  it('counts a beacon, whose end is never seen, for BEACON_IN_FLIGHT_MS', () => {
    const bytes = new KeepaliveBytes();
    bytes.addBeacon(30_000, 1_000);
    expect(bytes.inFlight(1_000 + BEACON_IN_FLIGHT_MS - 1)).toBe(30_000);
    expect(bytes.inFlight(1_000 + BEACON_IN_FLIGHT_MS)).toBe(0);
  });
});
