// @homing/resilience on the success path: ns per call of each policy and of the usual
// composition, against cockatiel 4 and opossum 9 measured in the same run.
import * as cockatiel from 'cockatiel';
import CircuitBreaker from 'opossum';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  constantBackoff,
  retry,
  SamplingBreaker,
  timeout,
  wrap,
} from '@homing/resilience';
import { nsPerCall } from '../lib/report.js';

export const title = '@homing/resilience: cost per successful call (ns)';
export const notes = [
  'Each figure is the median ns per `await policy.execute(fn)` where `fn` is an async function',
  'that resolves at once. Homing and the competitor run in the same process, one after the other.',
  'Compositions are alike: retry (3 attempts) around a consecutive breaker (5 failures, 10 s) around',
  'a 1 s timeout. Timeouts are cooperative in both libraries unless the row says aggressive.',
  'opossum has no retry: its row is its breaker with its own timeout, which it always applies.',
  '`fn reads context.signal` is the same composition with a function that reads its signal: that call',
  'pays for one AbortController (made lazily at the timeout), which dominates its figure.',
].join('\n');

const work = async () => 1;

export async function run() {
  const rows = [];
  const opts = { warmup: 20_000, batch: 20_000, rounds: 11 };

  const bare = await nsPerCall(() => work(), opts);

  // Homing policies.
  const hRetry = retry({ maxAttempts: 3, backoff: constantBackoff(100) });
  const hBreaker = circuitBreaker({ breaker: new ConsecutiveBreaker(5), halfOpenAfterMs: 10_000 });
  const hSampling = circuitBreaker({
    breaker: new SamplingBreaker({ threshold: 0.5, windowMs: 10_000, minimumThroughput: 20 }),
    halfOpenAfterMs: 10_000,
  });
  const hTimeoutCoop = timeout(1000, { strategy: 'cooperative' });
  const hTimeoutAggr = timeout(1000, { strategy: 'aggressive' });
  const hComposed = wrap(
    retry({ maxAttempts: 3, backoff: constantBackoff(100) }),
    circuitBreaker({ breaker: new ConsecutiveBreaker(5), halfOpenAfterMs: 10_000 }),
    timeout(1000, { strategy: 'cooperative' }),
  );
  const hComposedAggr = wrap(
    retry({ maxAttempts: 3, backoff: constantBackoff(100) }),
    circuitBreaker({ breaker: new ConsecutiveBreaker(5), halfOpenAfterMs: 10_000 }),
    timeout(1000, { strategy: 'aggressive' }),
  );
  // A function that reads its signal pays for the AbortController it asks for.
  const readsSignal = async (ctx) => (ctx.signal.aborted ? 0 : 1);

  // cockatiel 4.
  const c = cockatiel;
  const cRetry = c.retry(c.handleAll, { maxAttempts: 2, backoff: new c.ConstantBackoff(100) });
  const cBreaker = c.circuitBreaker(c.handleAll, {
    halfOpenAfter: 10_000,
    breaker: new c.ConsecutiveBreaker(5),
  });
  const cSampling = c.circuitBreaker(c.handleAll, {
    halfOpenAfter: 10_000,
    breaker: new c.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 }),
  });
  const cTimeout = c.timeout(1000, c.TimeoutStrategy.Cooperative);
  const cTimeoutAggr = c.timeout(1000, c.TimeoutStrategy.Aggressive);
  const cComposed = c.wrap(
    c.retry(c.handleAll, { maxAttempts: 2, backoff: new c.ConstantBackoff(100) }),
    c.circuitBreaker(c.handleAll, { halfOpenAfter: 10_000, breaker: new c.ConsecutiveBreaker(5) }),
    c.timeout(1000, c.TimeoutStrategy.Cooperative),
  );

  // opossum 9: its breaker always arms its timeout (a timer per call) unless timeout is false.
  const oBreakerTimeout = new CircuitBreaker(work, { timeout: 1000, resetTimeout: 10_000 });
  const oBreaker = new CircuitBreaker(work, { timeout: false, resetTimeout: 10_000 });

  const m = (fn) => nsPerCall(fn, opts);
  const composed = await m(() => hComposed.execute(work));
  const cComposedNs = await m(() => cComposed.execute(work));
  const oBreakerTimeoutNs = await m(() => oBreakerTimeout.fire());
  rows.push(
    {
      work: 'retry + breaker + timeout (cooperative), success',
      homing: composed,
      competitor: 'cockatiel 4 same composition',
      competitorValue: cComposedNs,
      unit: 'ns',
      better: 'lower',
      goal: '>= 10x cheaper',
    },
    {
      work: 'retry + breaker + timeout (cooperative), success',
      homing: composed,
      competitor: 'opossum 9 breaker + its timeout',
      competitorValue: oBreakerTimeoutNs,
      unit: 'ns',
      better: 'lower',
      goal: 'cheaper',
    },
  );
  rows.push({
    work: 'retry + breaker + timeout (aggressive), success',
    homing: await m(() => hComposedAggr.execute(work)),
    competitor: 'opossum 9 breaker + its timeout',
    competitorValue: oBreakerTimeoutNs,
    unit: 'ns',
    better: 'lower',
    goal: 'cheaper',
  });
  rows.push({
    work: 'retry + breaker + timeout, fn reads context.signal',
    homing: await m(() => hComposed.execute(readsSignal)),
    competitor: 'cockatiel 4 same composition',
    competitorValue: cComposedNs,
    unit: 'ns',
    better: 'lower',
    goal: '',
  });
  const breakerNs = await m(() => hBreaker.execute(work));
  const oBreakerAloneNs = await m(() => oBreaker.fire());
  rows.push(
    {
      work: 'consecutive breaker alone',
      homing: breakerNs,
      competitor: 'cockatiel 4 ConsecutiveBreaker',
      competitorValue: await m(() => cBreaker.execute(work)),
      unit: 'ns',
      better: 'lower',
      goal: '',
    },
    {
      work: 'consecutive breaker alone',
      homing: breakerNs,
      competitor: 'opossum 9 breaker, timeout off',
      competitorValue: oBreakerAloneNs,
      unit: 'ns',
      better: 'lower',
      goal: '',
    },
    {
      // The bar: the whole composition costs less than opossum's breaker on its own.
      work: 'retry + breaker + timeout (cooperative), success',
      homing: composed,
      competitor: 'opossum 9 breaker alone, timeout off',
      competitorValue: oBreakerAloneNs,
      unit: 'ns',
      better: 'lower',
      goal: 'cheaper',
    },
  );
  rows.push({
    work: 'sampling (rolling window) breaker alone',
    homing: await m(() => hSampling.execute(work)),
    competitor: 'cockatiel 4 SamplingBreaker',
    competitorValue: await m(() => cSampling.execute(work)),
    unit: 'ns',
    better: 'lower',
    goal: '',
  });
  rows.push({
    work: 'retry alone',
    homing: await m(() => hRetry.execute(work)),
    competitor: 'cockatiel 4 retry',
    competitorValue: await m(() => cRetry.execute(work)),
    unit: 'ns',
    better: 'lower',
    goal: '',
  });
  rows.push(
    {
      work: 'timeout alone (cooperative)',
      homing: await m(() => hTimeoutCoop.execute(work)),
      competitor: 'cockatiel 4 cooperative timeout',
      competitorValue: await m(() => cTimeout.execute(work)),
      unit: 'ns',
      better: 'lower',
      goal: '',
    },
    {
      work: 'timeout alone (aggressive)',
      homing: await m(() => hTimeoutAggr.execute(work)),
      competitor: 'cockatiel 4 aggressive timeout',
      competitorValue: await m(() => cTimeoutAggr.execute(work)),
      unit: 'ns',
      better: 'lower',
      goal: '',
    },
  );
  rows.push({
    work: 'bare await of the same function (baseline)',
    homing: bare,
    competitor: null,
    competitorValue: null,
    unit: 'ns',
    better: 'lower',
    goal: '',
  });
  oBreakerTimeout.shutdown();
  oBreaker.shutdown();
  return rows;
}
