import { describe, expect, it } from 'vitest';
import { useUnhandledRejections } from '../../unhandledRejections.test-helpers.js';
import type { ResolvedEndpoint } from '../deliveryOptions.js';
import { CustomDestination } from './custom.js';

const record = { uuid: 'u1', json: JSON.stringify({ uuid: 'u1', event: 'e' }), timestampMs: 0 };

describe('CustomDestination', () => {
  const unhandled = useUnhandledRejections();

  it("a send asked with its signal aborted already: the app's function is not called, nothing rejects unhandled", async () => {
    let calls = 0;
    const endpoint = {
      id: 'custom-0',
      destination: 'custom',
      send: async () => {
        calls++;
        throw new Error('the app sender fails');
      },
    } as unknown as ResolvedEndpoint;
    const destination = new CustomDestination(endpoint);
    const controller = new AbortController();
    controller.abort(new Error('shutdown budget spent'));
    const outcome = await destination.send([record], { signal: controller.signal } as never);
    expect(outcome.kind).toBe('failed');
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('an app function that rejects after the signal aborted: the rejection is handled', async () => {
    let reject!: (e: Error) => void;
    const endpoint = {
      id: 'custom-0',
      destination: 'custom',
      send: () => new Promise<void>((_, r) => (reject = r)),
    } as unknown as ResolvedEndpoint;
    const destination = new CustomDestination(endpoint);
    const controller = new AbortController();
    const sending = destination.send([record], { signal: controller.signal } as never);
    await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('request timeout'));
    expect((await sending).kind).toBe('failed');
    reject(new Error('late failure'));
    await new Promise((r) => setTimeout(r, 20));
    expect(unhandled).toEqual([]);
  });
});
