import { describe, expect, it } from 'vitest';
import { IngestError } from './errors.js';
import { posthogKey } from './posthogKey.js';

const ev = (extra: object = {}) => ({ event: 'e', distinct_id: 'd', ...extra });

describe('posthogKey', () => {
  it("finds the key where PostHog's SDKs put it", () => {
    const batch = { api_key: 'A', batch: [ev()] };
    expect(posthogKey(undefined, batch, batch.batch)).toBe('A');
    expect(posthogKey(undefined, undefined, [ev({ properties: { token: 'A' } })])).toBe('A');
    const single = ev({ $token: 'A' });
    expect(posthogKey(undefined, single, [single])).toBe('A');
    expect(posthogKey('A', undefined, [ev()])).toBe('A');
    expect(posthogKey(undefined, undefined, [ev()])).toBeUndefined();
  });

  it("reads no event's properties when the body or the event names a key", () => {
    const batch = { api_key: 'A', batch: [ev({ properties: { token: 'push' } })] };
    expect(posthogKey(undefined, batch, batch.batch)).toBe('A');
    expect(posthogKey(undefined, undefined, [ev({ token: 'A', properties: { token: 'push' } })])).toBe('A');
    const single = ev({ api_key: 'A', properties: { token: 'push' } });
    expect(posthogKey(undefined, single, [single])).toBe('A');
  });

  it("reads an event's properties.$token only without a properties.token (an app's own $token is data)", () => {
    expect(posthogKey(undefined, undefined, [ev({ properties: { token: 'A', $token: 'app-data' } })])).toBe(
      'A',
    );
    expect(posthogKey(undefined, undefined, [ev({ properties: { $token: 'A' } })])).toBe('A');
  });

  it('refuses two different keys, naming where they were and not what', () => {
    const refusal = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(IngestError);
        expect((err as IngestError).statusCode).toBe(400);
        return (err as Error).message;
      }
      throw new Error('not refused');
    };
    const items = [ev({ properties: { token: 'A' } }), ev(), ev({ properties: { $token: 'B' } })];
    const message = refusal(() => posthogKey(undefined, undefined, items));
    expect(message).toBe(
      "event 0's properties.token and event 2's properties.$token carry different keys; send one",
    );
    expect(message).not.toMatch(/\bA\b|\bB\b/);
    expect(refusal(() => posthogKey('A', { api_key: 'B', batch: [] }, []))).toMatch(
      /^Authorization and the body's api_key/,
    );
  });
});
