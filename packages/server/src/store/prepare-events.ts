import { StoreInputError } from './errors.js';
import { writeEventKey } from './event-key.js';
import { parseIsoMs } from './parse-iso.js';
import type {
  ErasureQuery,
  EventPosition,
  EventQuery,
  IngestEvent,
  StatsBucket,
  StatsQuery,
  StatsResult,
} from './store.js';

/** An event checked and reduced to what both stores write. */
export interface PreparedEvent {
  uuid: string;
  /** `uuid`, or null when `formatUuid(key)` gives it back exactly (saves 36 bytes a row). */
  uuidText: string | null;
  event: string;
  distinctId: string;
  tsMs: number;
  /**
   * When an erasure takes the event to have happened: `tsMs`, or the earlier time it was
   * stamped from (IngestEvent.clampedFrom). Not stored.
   */
  eventMs: number;
  originalTimestamp: string | null;
  receivedAt: string;
  propertiesJson: string;
}

/** A checked batch: its events, and their keys side by side in one buffer. */
export interface PreparedBatch {
  events: PreparedEvent[];
  /** Event i's 16-byte key is `keys[16 i, 16 i + 16)`; one allocation for the whole batch. */
  keys: Buffer;
}

export interface PrepareLimits {
  /** Largest serialized `properties` of one event, in UTF-16 code units. */
  maxPropertiesChars: number;
}

export const DEFAULT_PREPARE_LIMITS: PrepareLimits = { maxPropertiesChars: 1_000_000 };

const MAX_ID_CHARS = 1000;
/** No string checked yet (a value no caller can pass). */
const UNCHECKED = Symbol('unchecked');

/**
 * Checks a whole batch before anything is written, so a bad event refuses the batch and
 * nothing is half-written. The server's ingest layer already names bad events per index; this
 * is the store's own guard. Strings must be well-formed UTF-16 without NUL, because SQLite would
 * silently replace lone surrogates and PostgreSQL refuses NUL in text.
 */
export function prepareEvents(
  events: readonly IngestEvent[],
  limits: PrepareLimits = DEFAULT_PREPARE_LIMITS,
): PreparedBatch {
  if (!Array.isArray(events)) throw new StoreInputError('events must be an array');
  const out = new Array<PreparedEvent>(events.length);
  const keys = Buffer.allocUnsafe(16 * events.length);
  // The server gives every event of a batch the same receive time: checked once.
  let receivedAt: unknown = UNCHECKED;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as unknown as Record<string, unknown> | null;
    if (e === null || typeof e !== 'object') throw new StoreInputError('event must be an object', i);
    const uuid = idString(e.uuid, 'uuid', i);
    const event = idString(e.event, 'event', i);
    const distinctId = idString(e.distinctId, 'distinctId', i);
    const tsMs = isoMs(e.timestamp, 'timestamp', i);
    const clampedFrom = e.clampedFrom;
    const eventMs =
      clampedFrom === undefined || clampedFrom === null
        ? tsMs
        : Math.min(tsMs, isoMs(clampedFrom, 'clampedFrom', i));
    const originalTimestamp = e.originalTimestamp ?? null;
    if (originalTimestamp !== null) idString(originalTimestamp, 'originalTimestamp', i);
    // Set by the server's own clock, so only its type is checked here.
    if (e.receivedAt !== receivedAt) receivedAt = idString(e.receivedAt, 'receivedAt', i);
    const props = e.properties;
    if (props === null || typeof props !== 'object' || Array.isArray(props)) {
      throw new StoreInputError('properties must be an object', i);
    }
    let propertiesJson: string;
    try {
      propertiesJson = JSON.stringify(props);
    } catch (err) {
      throw new StoreInputError(
        `properties cannot be serialized (${(err as Error).name}: cycles and BigInt are refused)`,
        i,
      );
    }
    if (propertiesJson.length > limits.maxPropertiesChars) {
      throw new StoreInputError(
        `properties too large: ${propertiesJson.length} characters, limit ${limits.maxPropertiesChars}`,
        i,
      );
    }
    const plainUuid = writeEventKey(uuid, keys, 16 * i);
    out[i] = {
      uuid,
      uuidText: plainUuid ? null : uuid,
      event,
      distinctId,
      tsMs,
      eventMs,
      originalTimestamp: originalTimestamp as string | null,
      receivedAt: receivedAt as string,
      propertiesJson,
    };
  }
  return { events: out, keys };
}

/** `i`: the event's index in its batch, or null for an argument of a call. */
function idString(v: unknown, field: string, i: number | null): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new StoreInputError(`${field} must be a non-empty string`, i);
  }
  if (v.length > MAX_ID_CHARS) throw new StoreInputError(`${field} longer than ${MAX_ID_CHARS}`, i);
  wellFormed(v, field, i);
  return v;
}

/** PostgreSQL refuses NUL in text and SQLite silently replaces lone surrogates: refused in both. */
function wellFormed(v: string, field: string, i: number | null): void {
  if (v.indexOf('\0') !== -1 || !(v as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new StoreInputError(`${field} contains NUL or a lone surrogate`, i);
  }
}

/**
 * `subMs: 'ceil'` for bounds: stored times are whole milliseconds, so a bound rounded up keeps
 * `ts >= since` and `ts < until` exact (truncated, since …00.0009 took in an event at …00.000).
 */
function isoMs(v: unknown, field: string, i: number | null, subMs: 'truncate' | 'ceil' = 'truncate'): number {
  const ms = typeof v === 'string' ? parseIsoMs(v, subMs) : NaN;
  if (!Number.isFinite(ms)) throw new StoreInputError(`${field} must be an ISO 8601 date`, i);
  return ms;
}

export function checkProjectName(name: unknown): string {
  // Characters as people count them (code points): 150 emoji are 300 UTF-16 units.
  if (typeof name !== 'string' || name.trim().length === 0 || [...name].length > 200) {
    throw new StoreInputError('project name must be a non-empty string of at most 200 characters');
  }
  return name;
}

export function checkQuery(q: EventQuery): {
  sinceMs: number | null;
  untilMs: number | null;
  before: EventPosition | null;
} {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 1000) {
    throw new StoreInputError('limit must be an integer from 1 to 1000');
  }
  // Filters are compared with stored ids: one ingest could never have stored matches nothing in
  // SQLite but fails PostgreSQL's text encoding (a "retry" error), so both refuse it alike.
  if (q.event !== undefined) idString(q.event, 'event', null);
  if (q.distinctId !== undefined) idString(q.distinctId, 'distinctId', null);
  const sinceMs = q.since === undefined ? null : isoMs(q.since, 'since', null, 'ceil');
  const untilMs = q.until === undefined ? null : isoMs(q.until, 'until', null, 'ceil');
  let before: EventPosition | null = null;
  if (q.before !== undefined) {
    const b = q.before as Partial<EventPosition> | null;
    if (
      b === null ||
      typeof b !== 'object' ||
      !Number.isSafeInteger(b.tsMs) ||
      !Number.isSafeInteger(b.seq)
    ) {
      throw new StoreInputError('before must be { tsMs, seq } of a stored event (integers)');
    }
    before = { tsMs: b.tsMs!, seq: b.seq! };
  }
  return { sinceMs, untilMs, before };
}

/**
 * An erasure's arguments, checked before anything is written: PostgreSQL refused a NUL only
 * after the suppression entry had committed. `distinctId` follows the ingest rule (an id no event
 * can carry names nobody); `requestedBy` is the server's own text, free in length.
 */
export function checkErasure(distinctId: unknown, requestedBy: unknown): void {
  idString(distinctId, 'distinctId', null);
  if (typeof requestedBy !== 'string') throw new StoreInputError('requestedBy must be a string');
  wellFormed(requestedBy, 'requestedBy', null);
}

/**
 * A retention call's arguments: the cutoff read as strictly as every other time (`Date.parse`
 * took "12" for 2001-12-01 and deleted everything before it), whole milliseconds: events
 * strictly before it go, so a finer fraction rounds up as `until` does.
 */
export function checkRetention(cutoff: unknown, limit: unknown): number {
  const cutoffMs = typeof cutoff === 'string' ? parseIsoMs(cutoff, 'ceil') : NaN;
  if (!Number.isFinite(cutoffMs)) {
    throw new StoreInputError(
      `cutoff must be an ISO 8601 date or date-time (2026-01-31, 2026-01-31T12:00:00Z), not ${JSON.stringify(String(cutoff).slice(0, 64))}`,
    );
  }
  if (!Number.isInteger(limit) || (limit as number) < 1) {
    throw new StoreInputError('limit must be a positive integer');
  }
  return cutoffMs;
}

/** Most erasure log entries one call may answer. */
export const MAX_ERASURES_PER_CALL = 100_000;

/** The `seq` below which the page starts: beforeSeq, or past the newest entry. */
export function checkErasureQuery(q: ErasureQuery): number {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_ERASURES_PER_CALL) {
    throw new StoreInputError(`limit must be an integer from 1 to ${MAX_ERASURES_PER_CALL}`);
  }
  if (q.beforeSeq === undefined) return Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(q.beforeSeq) || q.beforeSeq < 1) {
    throw new StoreInputError('beforeSeq must be a positive integer (the seq of an erasure log entry)');
  }
  return q.beforeSeq;
}

/** Largest number of buckets one stats call may answer. */
export const MAX_STATS_BUCKETS = 10_000;
/** Most event names one stats call may name, and how many it names when not told. */
export const MAX_STATS_EVENTS = 1000;

export function checkStats(q: StatsQuery): {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  maxEvents: number;
} {
  const fromMs = isoMs(q.from, 'from', null, 'ceil');
  const toMs = isoMs(q.to, 'to', null, 'ceil');
  if (!(Number.isFinite(q.intervalSeconds) && q.intervalSeconds >= 1)) {
    throw new StoreInputError('intervalSeconds must be a number of at least 1');
  }
  const intervalMs = Math.round(q.intervalSeconds * 1000);
  if (toMs <= fromMs) throw new StoreInputError('to must be after from');
  if ((toMs - fromMs) / intervalMs > MAX_STATS_BUCKETS) {
    throw new StoreInputError(`more than ${MAX_STATS_BUCKETS} buckets; use a larger interval`);
  }
  const maxEvents = q.maxEvents ?? MAX_STATS_EVENTS;
  if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > MAX_STATS_EVENTS) {
    throw new StoreInputError(`maxEvents must be an integer from 1 to ${MAX_STATS_EVENTS}`);
  }
  return { fromMs, toMs, intervalMs, maxEvents };
}

/** A count of a stats query: bucket index, event name (null: the names left out), events. */
export interface StatsRow {
  b: number;
  event: string | null;
  n: number;
}

function emptyBuckets(fromMs: number, toMs: number, intervalMs: number): StatsBucket[] {
  const count = Math.ceil((toMs - fromMs) / intervalMs);
  return Array.from({ length: count }, (_, i) => ({
    start: new Date(fromMs + i * intervalMs).toISOString(),
    total: 0,
    byEvent: Object.create(null) as Record<string, number>,
    other: 0,
  }));
}

function addCount(buckets: StatsBucket[], b: number, event: string | null, n: number): void {
  const bucket = buckets[b];
  if (!bucket) return;
  bucket.total += n;
  if (event === null) bucket.other += n;
  else bucket.byEvent[event] = (bucket.byEvent[event] ?? 0) + n;
}

/**
 * Builds every bucket from `from` to `to`, empty ones included, from rows already folded to the
 * names the answer names (PostgreSQL folds in its query); `otherNames`: how many were left out.
 */
export function buildBuckets(
  fromMs: number,
  toMs: number,
  intervalMs: number,
  rows: Iterable<StatsRow>,
  otherNames = 0,
): StatsResult {
  const buckets = emptyBuckets(fromMs, toMs, intervalMs);
  for (const r of rows) addCount(buckets, Number(r.b), r.event, Number(r.n));
  return { buckets, otherNames };
}

/**
 * Names and rows a StatsTally handles between two calls of `between` (a turn of the event loop):
 * a few milliseconds, so a range with a million names does not hold the loop while it is folded.
 */
const STATS_FOLD_SLICE = 20_000;

/**
 * A stats query's (bucket, name, count) rows gathered piece by piece (SQLite counts a range in
 * pieces, see SqliteReads.stats), then folded to the `maxEvents` names with the most events, the
 * others' events counted as `other`, before any bucket's object is built: the answer is bounded
 * however many names the range holds. PostgreSQL's query folds alike, in SQL.
 */
export class StatsTally {
  /** Each name once, by the index its rows hold. */
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  /** Events per name over the range, by index. */
  private readonly totals: number[] = [];
  /**
   * The rows, column by column in typed arrays: two million rows held as JS arrays (a string per
   * row) made every major GC of a stats query walk them, steps of 200-450 ms CPU while it ran.
   */
  private bs = new Int32Array(1024);
  private nameIds = new Int32Array(1024);
  private ns = new Float64Array(1024);
  private rows = 0;

  add(b: number, event: string, n: number): void {
    let id = this.ids.get(event);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(event, id);
      this.names.push(event);
      this.totals.push(0);
    }
    if (this.rows === this.ns.length) this.grow();
    this.bs[this.rows] = b;
    this.nameIds[this.rows] = id;
    this.ns[this.rows] = n;
    this.rows++;
    this.totals[id]! += n;
  }

  private grow(): void {
    const bs = new Int32Array(this.rows * 2);
    const nameIds = new Int32Array(this.rows * 2);
    const ns = new Float64Array(this.rows * 2);
    bs.set(this.bs);
    nameIds.set(this.nameIds);
    ns.set(this.ns);
    [this.bs, this.nameIds, this.ns] = [bs, nameIds, ns];
  }

  async fold(
    fromMs: number,
    toMs: number,
    intervalMs: number,
    maxEvents: number,
    between: () => Promise<void>,
  ): Promise<StatsResult> {
    const named = await topNames(this.names, this.totals, maxEvents, between);
    const buckets = emptyBuckets(fromMs, toMs, intervalMs);
    for (let i = 0; i < this.rows; i++) {
      if (i > 0 && i % STATS_FOLD_SLICE === 0) await between();
      const id = this.nameIds[i]!;
      addCount(buckets, this.bs[i]!, named[id] ? this.names[id]! : null, this.ns[i]!);
    }
    return { buckets, otherNames: this.names.length - Math.min(maxEvents, this.names.length) };
  }
}

/**
 * Code point order, as SQLite's BINARY and PostgreSQL's "C" collation order UTF-8 text: UTF-16
 * order (JavaScript's <) puts a name above U+FFFF (a surrogate pair) before one at U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A UTF-16 unit's place in code point order: surrogates after U+E000..U+FFFF. */
const codePointRank = (u: number): number => (u < 0xd800 ? u : u < 0xe000 ? u + 0x2000 : u - 0x800);

/** Whether name `a` (with `na` events) ranks above `b`: more events, or as many and `a` first. */
function ranksAbove(na: number, a: string, nb: number, b: string): boolean {
  return na !== nb ? na > nb : compareCodePoints(a, b) < 0;
}

/**
 * The `max` names with the most events, ties in code point order (PostgreSQL's query orders the
 * same), chosen through a heap of the best so far whose root is the lowest: one comparison for
 * most names, and a turn of the event loop every STATS_FOLD_SLICE names. Answers, by a name's
 * index in `names`, whether it is one of them.
 */
async function topNames(
  names: readonly string[],
  totals: readonly number[],
  max: number,
  between: () => Promise<void>,
): Promise<boolean[]> {
  if (names.length <= max) return names.map(() => true);
  // The heap: indexes of the best names so far, the lowest at its root.
  const heap: number[] = [];
  const swap = (i: number, j: number): void => {
    [heap[i], heap[j]] = [heap[j]!, heap[i]!];
  };
  const above = (i: number, j: number): boolean =>
    ranksAbove(totals[heap[i]!]!, names[heap[i]!]!, totals[heap[j]!]!, names[heap[j]!]!);
  for (let id = 0; id < names.length; id++) {
    if ((id + 1) % STATS_FOLD_SLICE === 0) await between();
    if (heap.length < max) {
      heap.push(id);
      for (let i = heap.length - 1; i > 0;) {
        const parent = (i - 1) >> 1;
        if (!above(parent, i)) break;
        swap(parent, i);
        i = parent;
      }
    } else if (ranksAbove(totals[id]!, names[id]!, totals[heap[0]!]!, names[heap[0]!]!)) {
      heap[0] = id;
      for (let i = 0; ;) {
        let lowest = i;
        const left = 2 * i + 1;
        if (left < heap.length && above(lowest, left)) lowest = left;
        if (left + 1 < heap.length && above(lowest, left + 1)) lowest = left + 1;
        if (lowest === i) break;
        swap(lowest, i);
        i = lowest;
      }
    }
  }
  const named = names.map(() => false);
  for (const id of heap) named[id] = true;
  return named;
}
