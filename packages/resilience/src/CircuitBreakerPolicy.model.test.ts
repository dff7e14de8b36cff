/**
 * A fast-check model test: any sequence of successes, failures, ignored errors and clock moves
 * drives the breaker exactly as a few lines of obviously-right model code say it should.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { circuitBreaker } from './CircuitBreakerPolicy.js';
import { ConsecutiveBreaker } from './ConsecutiveBreaker.js';

afterEach(() => {
  vi.useRealTimers();
});

type Op = { call: 'success' | 'failure' | 'ignored' } | { wait: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ call: fc.constantFrom('success' as const, 'failure' as const, 'ignored' as const) }),
  fc.record({ wait: fc.integer({ min: 0, max: 300 }) }),
);

describe('circuitBreaker model', () => {
  it('matches the model for any sequence of outcomes and waits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 200 }),
        fc.array(op, { maxLength: 60 }),
        async (threshold, openMs, ops) => {
          vi.useFakeTimers({ now: 1_000_000 });
          const policy = circuitBreaker({
            breaker: new ConsecutiveBreaker(threshold),
            halfOpenAfterMs: openMs,
            isFailure: (e) => (e as Error).message !== 'ignored',
          });
          const model = { state: 'closed', count: 0, openUntil: 0, calls: 0, rejections: 0, failures: 0 };
          for (const step of ops) {
            if ('wait' in step) {
              vi.advanceTimersByTime(step.wait);
              continue;
            }
            const now = Date.now();
            let admitted = true;
            if (model.state === 'open') {
              if (now < model.openUntil) admitted = false;
              else model.state = 'half-open';
            }
            let ran = false;
            await policy
              .execute(() => {
                ran = true;
                if (step.call === 'success') return 1;
                throw new Error(step.call);
              })
              .catch(() => undefined);
            expect(ran).toBe(admitted);
            if (!admitted) {
              model.rejections++;
            } else {
              model.calls++;
              const probe = model.state === 'half-open';
              if (step.call === 'success') {
                model.count = 0;
                if (probe) model.state = 'closed';
              } else if (step.call === 'failure') {
                model.failures++;
                if (probe || ++model.count >= threshold) {
                  model.state = 'open';
                  model.openUntil = now + openMs;
                  model.count = 0;
                }
              }
            }
            expect(policy.state).toBe(model.state);
            expect(policy.stats()).toMatchObject({
              calls: model.calls,
              rejections: model.rejections,
              failures: model.failures,
            });
          }
          vi.useRealTimers();
        },
      ),
      { numRuns: 300 },
    );
  });
});
