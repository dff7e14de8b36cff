import { describe, expect, it } from 'vitest';
import { DeliveryCounters } from './DeliveryCounters.js';
import type { EndpointChannel } from './EndpointChannel.js';

describe('DeliveryCounters', () => {
  it('snapshots are copies: later counting changes neither the figures nor lastError', () => {
    const c = new DeliveryCounters();
    const channel = { id: 'a', snapshot: () => ({ state: 'closed' }) } as unknown as EndpointChannel;
    c.sent = 3;
    c.lastError = { endpoint: 'a', reason: 'http 503', atMs: 1 };
    const s = c.snapshot([channel], { paused: true, online: false });
    expect(s).toEqual({
      sent: 3,
      failedAttempts: 0,
      retried: 0,
      deadLettered: 0,
      inFlight: 0,
      paused: true,
      online: false,
      breakers: { a: { state: 'closed' } },
      lastError: { endpoint: 'a', reason: 'http 503', atMs: 1 },
    });
    c.sent = 10;
    c.lastError.reason = 'changed';
    expect(s.sent).toBe(3);
    expect(s.lastError?.reason).toBe('http 503');
    expect(new DeliveryCounters().snapshot([], { paused: false, online: true }).lastError).toBeNull();
  });
});
