import type { ServerMetrics } from '../metrics/serverMetrics.js';
import type { TokenBuckets } from '../rateLimit/tokenBucket.js';
import { StoreCallDropped, StoreInputError } from '../store/errors.js';
import type { IngestEvent, InsertResult, Store } from '../store/store.js';
import type { BuildContext, Built } from './buildIngestEvent.js';
import { eventTooLargeReason, type ShapeLimits } from './checkEventShape.js';
import { IngestError } from './errors.js';
import type { WriteKeys } from './writeKeys.js';

export type WireFormat = 'native' | 'posthog' | 'segment';

/** What the ingest routes share; built once per server. */
export interface IngestDeps {
  store: Store;
  keys: WriteKeys;
  /** null when rate limiting is off. */
  buckets: TokenBuckets | null;
  metrics: ServerMetrics;
  limits: ShapeLimits;
  /** Most items one request may carry (maxBatchEvents). */
  maxBatchEvents: number;
  /** The retention period, ms; 0 or absent: none (see BuildContext.retentionMs). */
  retentionMs?: number;
}

export interface IngestRequest {
  format: WireFormat;
  /**
   * The write key, asked for once the batch's size passed: finding it may walk every event
   * (PostHog's), and throws an IngestError when the request names two different keys.
   */
  key: () => string | undefined;
  /** How this route takes the key, for the 401 when none came; WriteKeys' default otherwise. */
  howToSendKey?: string;
  items: readonly unknown[];
  /** Maps one item to an event or the reason it is refused. */
  normalise: (raw: unknown, ctx: BuildContext) => Built;
  /** The sender asserts every timestamp (an import route or flag): see BuildContext. */
  timestampsAsserted?: boolean;
  /** Aborted when the client went away (`clientGone`): a call not committed yet is dropped. */
  signal?: AbortSignal;
}

export interface RejectedEvent {
  index: number;
  error: string;
}

export interface IngestAnswer extends InsertResult {
  rejected: RejectedEvent[];
}

/**
 * The path every wire format shares once its envelope is read: refuse a batch of more than
 * `maxBatchEvents` items whole (413), authenticate the write key,
 * take from the project's token bucket (each refusal counted as outcome `refused`), normalise and check each event (refusing bad ones by
 * index), then commit the good ones in one store call. Resolves only after the store
 * committed; a store failure rejects (the error handler answers 503 with Retry-After).
 */
export async function ingestBatch(deps: IngestDeps, req: IngestRequest): Promise<IngestAnswer> {
  // First, before the key: every item costs work and, refused, an entry in the answer, so a
  // small gzip body of millions of items would hold the event loop for seconds.
  if (req.items.length > deps.maxBatchEvents) {
    countRefused(deps, req);
    throw tooManyEvents(req.items.length, deps.maxBatchEvents);
  }
  let project: Awaited<ReturnType<WriteKeys['resolve']>>;
  try {
    project = await deps.keys.resolve(req.key(), req.howToSendKey);
  } catch (err) {
    // A missing, wrong or disagreeing key refuses the events; a store that failed (503) is
    // counted in homing_store_failures_total, as every store failure is, by the app's onError hook.
    if (err instanceof IngestError) countRefused(deps, req);
    throw err;
  }
  if (deps.buckets !== null) {
    const wait = deps.buckets.take(project.id, req.items.length);
    if (wait > 0) {
      countRefused(deps, req);
      throw new IngestError('rate-limited', `project over its rate limit; retry in ${wait} s`, wait);
    }
  }
  const receivedMs = Date.now();
  const ctx: BuildContext = {
    ...deps.limits,
    receivedMs,
    receivedAt: new Date(receivedMs).toISOString(),
    retentionMs: deps.retentionMs ?? 0,
    timestampsAsserted: req.timestampsAsserted === true,
  };
  const good: IngestEvent[] = [];
  const goodIndex: number[] = [];
  const rejected: RejectedEvent[] = [];
  for (let i = 0; i < req.items.length; i++) {
    const built = req.normalise(req.items[i], ctx);
    if (typeof built === 'string') rejected.push({ index: i, error: built });
    else {
      good.push(built);
      goodIndex.push(i);
    }
  }
  let result: InsertResult;
  try {
    result = await insertRefusingBadEvents(deps, project.id, good, goodIndex, rejected, req.signal);
  } catch (err) {
    // Answered 503: nothing of this request was stored, so it spends none of the project's rate.
    deps.buckets?.giveBack(project.id, req.items.length);
    throw err;
  }
  const { events } = deps.metrics;
  if (result.accepted > 0) events.inc({ format: req.format, outcome: 'accepted' }, result.accepted);
  if (result.duplicates > 0) events.inc({ format: req.format, outcome: 'duplicate' }, result.duplicates);
  if (rejected.length > 0) events.inc({ format: req.format, outcome: 'rejected' }, rejected.length);
  if (result.erased > 0) events.inc({ format: req.format, outcome: 'erased' }, result.erased);
  rejected.sort((a, b) => a.index - b.index);
  return { ...result, rejected };
}

/**
 * The events of a request refused whole (413 too many, 401/403 key, 429 rate limit): the
 * outcome `refused`, so what was dropped shows beside what was stored. A body that could not
 * be read has no count and adds nothing.
 */
function countRefused(deps: IngestDeps, req: IngestRequest): void {
  if (req.items.length > 0)
    deps.metrics.events.inc({ format: req.format, outcome: 'refused' }, req.items.length);
}

function clientLeft(): IngestError {
  return new IngestError(
    'aborted',
    'the client closed the connection before its events were committed; nothing was stored',
  );
}

function tooManyEvents(count: number, max: number): IngestError {
  return new IngestError(
    'too-large',
    `batch of ${count} events is over the limit of ${max} events per request: send smaller batches, or raise maxBatchEvents (homing serve --max-batch-events)`,
  );
}

/**
 * The store refuses a whole call for one event it cannot take (nothing written). The checks
 * above mirror its rules, so this is a safety net: the event it names is moved to `rejected`
 * and the rest is sent again, at most once per event.
 */
async function insertRefusingBadEvents(
  deps: IngestDeps,
  projectId: string,
  good: IngestEvent[],
  goodIndex: number[],
  rejected: RejectedEvent[],
  signal: AbortSignal | undefined,
): Promise<InsertResult> {
  for (;;) {
    if (good.length === 0) return { accepted: 0, duplicates: 0, erased: 0 };
    const end = deps.metrics.storeWriteDuration.startTimer();
    try {
      const r = await deps.store.insertEvents(projectId, good, signal === undefined ? {} : { signal });
      end({ outcome: 'committed' });
      return r;
    } catch (err) {
      // The client went away and the store dropped its call before the commit: no one is there
      // to resend it, and a dropped call is no store failure (it was counted as one, and logged
      // at error level, when a pipelining client closed its connection). A real failure that
      // ends after the client left (a hung database) is still one.
      if (err instanceof StoreCallDropped) throw clientLeft();
      // Apart: a statement cancelled at its 5 s timeout looked like a slow commit.
      end({ outcome: 'failed' });
      const at = err instanceof StoreInputError ? err.index : null;
      // Counted (homing_store_failures_total) where it is answered: the app's onError hook.
      if (at === null || at < 0 || at >= good.length) throw err;
      rejected.push({ index: goodIndex[at]!, error: (err as StoreInputError).message });
      good.splice(at, 1);
      goodIndex.splice(at, 1);
    }
  }
}

/**
 * When a body held one event and it was refused for its size, the message for a 413: that event
 * is the whole body, so the client gets the status of an oversized body, naming the limit it
 * crossed, rather than a 400 that reads as malformed input. null otherwise (a batch refuses an
 * oversized event by index and keeps the rest).
 */
export function oversizedOnlyEvent(
  itemCount: number,
  answer: IngestAnswer,
  limits: ShapeLimits,
): string | null {
  if (itemCount !== 1 || answer.rejected.length !== 1) return null;
  if (answer.rejected[0]!.error !== eventTooLargeReason(limits.maxEventBytes)) return null;
  return `the event is larger than the limit of ${limits.maxEventBytes} bytes of JSON (UTF-8) per event (maxEventBytes)`;
}
