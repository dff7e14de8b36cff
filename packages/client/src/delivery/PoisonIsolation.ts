import type { OutboxRecord } from '../outbox/outbox.js';
import type { SendOutcome } from './destinations/destination.js';

/** Outbox state key of the search (`PoisonSearchState`), so a CLI's next run goes on with it. */
export const POISON_SEARCH_STATE_KEY = 'delivery:poison-search';

/**
 * How many times the suspect must fail alone, with another batch accepted before each failure
 * after the first, before it is dead-lettered. Three: an endpoint failing at random half of the
 * time still needs five outcomes in a row to go one way (1 in 32) before an event is set aside,
 * and the dead letters keep it replayable.
 */
export const POISON_LONE_FAILURES = 3;

/** What the search knows, saved in the outbox state (plain JSON). */
export interface PoisonSearchState {
  /** First uuid of the batch that failed last. */
  readonly head: string | null;
  /** Failures in a row of batches starting with `head`. */
  readonly headFailures: number;
  /** While searching: the most events a claim may take. Null: not searching. */
  readonly cap: number | null;
  /** The event that failed alone. */
  readonly suspect: string | null;
  /** Its failures alone that count (see `POISON_LONE_FAILURES`). */
  readonly suspectFailures: number;
  /**
   * Whether a batch was accepted since the last failure that counted: the suspect's, or while
   * halving, the capped batch's. False: the next claim goes after a probe.
   */
  readonly acceptedSince: boolean;
  /**
   * While halving: the probe sent for the capped batch now due failed too, so that batch goes
   * without one (the probe may have been the failing event itself, which a probe after the same
   * batch would meet every time). Absent in states saved before probes while halving: false.
   */
  readonly probeFailed: boolean;
}

/** Nothing known: no search, no failure. */
export const POISON_SEARCH_IDLE: PoisonSearchState = {
  head: null,
  headFailures: 0,
  cap: null,
  suspect: null,
  suspectFailures: 0,
  acceptedSince: false,
  probeFailed: false,
};

/**
 * Finds the event an endpoint fails on every time while it takes others: a server bug that one
 * value triggers (a 500, a crash that resets the connection, a hang) on every batch holding it.
 * Claims are oldest first, so without this such a batch heads every claim after its failure, and
 * once the breaker opens, every half-open probe: nothing behind it is ever sent again.
 *
 * A batch whose first event headed the last failed batch too is split: claims take half as many
 * events, halving on each failure and doubling on each success, so the failing event comes to head
 * the queue and is claimed alone. After each failure, the next claim goes right after a probe
 * (`needsProbe`): one event, the first in the queue behind the claim. An accepted probe shows the
 * endpoint takes events, which ends the wait the failure began (the backoff starts over) and keeps
 * the breaker's count of failures in a row from reaching its threshold: without probes, a failing
 * event at the head of the queue failed every halving in a row, the breaker opened, and each
 * further halving waited for its half-open probe (three minutes with the defaults, nothing else
 * sent meanwhile). A probe that fails while halving says nothing sure (it may be the failing event
 * itself): the capped batch then goes without one. Probes while halving are taken only from a
 * queue with at least `POISON_LONE_FAILURES` events behind the claim (`BatchSender.needsProbe`):
 * the suspect's own probes must still find events behind it, and a failing batch is often the
 * end of the queue (other batches went past it meanwhile).
 *
 * Once alone, that event, the suspect, goes after a probe too: when the probe is accepted and the
 * suspect fails alone again, up to `POISON_LONE_FAILURES` times, it is the event, not the
 * endpoint, and it goes to the dead letters (inspectable and replayable, never dropped). When a
 * batch without the suspect fails too, the endpoint is down: the search is forgotten and claims
 * are whole again. While it searches, one batch is in flight at a time (`DeliveryLoop`), so
 * claims follow each other in queue order.
 *
 * Only retryable failures count (`countsAgainstBatch`: a reset connection, a timeout, a 5xx but
 * 503): refusals for good are dead-lettered anyway, 413 splits on its own, and 429, 503, a
 * Retry-After or a connection refused are the endpoint busy or down, whatever the batch. A request
 * cut by our own shutdown counts for nothing.
 */
export class PoisonIsolation {
  private state: PoisonSearchState = POISON_SEARCH_IDLE;

  constructor(private readonly batchSize: number) {}

  /** The most events a claim may take now (Infinity when not searching). */
  cap(): number {
    return this.state.cap ?? Number.POSITIVE_INFINITY;
  }

  /** Whether the search is halving claims (it has no suspect yet). */
  halving(): boolean {
    return this.state.cap !== null && this.state.suspect === null;
  }

  /** Whether a search is on: the delivery loop then keeps one batch in flight. */
  searching(): boolean {
    return this.state.cap !== null;
  }

  /** The state now: a new object after every change, the same one while nothing changes. */
  snapshot(): PoisonSearchState {
    return this.state;
  }

  /** A saved state; anything but a well-formed one (damaged, hand-edited, another version) is ignored. */
  restore(saved: unknown): void {
    const state = parsePoisonSearchState(saved);
    if (state !== null) this.state = state;
  }

  /**
   * A batch just claimed in queue order (not a probe). True when a failure that counted came
   * after the last accepted batch: send a probe first. A capped claim that did not find the
   * suspect at the head (another process sent it, retention dropped it) ends the search.
   */
  needsProbe(records: readonly OutboxRecord[]): boolean {
    const { suspect, acceptedSince, cap, probeFailed } = this.state;
    if (suspect === null) return cap !== null && !acceptedSince && !probeFailed;
    if (records.length === 1 && records[0]!.uuid === suspect) return !acceptedSince;
    if (!records.some((r) => r.uuid === suspect)) this.state = POISON_SEARCH_IDLE;
    return false;
  }

  /** The probe sent before a claim was accepted: the endpoint takes events. */
  probeAccepted(): void {
    this.endpointTookOthers();
  }

  /** The endpoint took events that say nothing else about the search: the next claim needs no probe. */
  private endpointTookOthers(): void {
    const s = this.state;
    if (s.cap !== null && !s.acceptedSince) this.state = { ...s, acceptedSince: true };
  }

  /**
   * The probe sent before a claim failed, and the failure counts. Before the suspect, the
   * endpoint is down: the search is forgotten. While halving, the capped batch goes without one.
   */
  probeFailed(): void {
    const s = this.state;
    if (s.suspect !== null) this.state = POISON_SEARCH_IDLE;
    else if (s.cap !== null && !s.probeFailed) this.state = { ...s, probeFailed: true };
  }

  /** Some endpoint accepted these records. */
  accepted(records: readonly OutboxRecord[]): void {
    const s = this.state;
    if (s.suspect !== null) {
      if (records.some((r) => r.uuid === s.suspect)) this.state = POISON_SEARCH_IDLE;
      else this.endpointTookOthers();
      return;
    }
    if (s.cap === null) {
      if (s.head !== null && records.some((r) => r.uuid === s.head)) this.state = POISON_SEARCH_IDLE;
      return;
    }
    // Larger than the cap: claimed before the search began, in flight beside the batch that
    // failed. It shows the endpoint takes events, nothing about the search's claims (counted as a
    // success of those, two such batches doubled the cap back to whole and ended the search).
    if (records.length > s.cap) {
      this.endpointTookOthers();
      return;
    }
    // Back to whole batches, still searching: a failure there halves at once. One accepted whole
    // ends the search.
    this.state =
      s.cap >= this.batchSize
        ? POISON_SEARCH_IDLE
        : {
            ...s,
            head: null,
            headFailures: 0,
            cap: Math.min(s.cap * 2, this.batchSize),
            acceptedSince: true,
            probeFailed: false,
          };
  }

  /**
   * No endpoint accepted these records, and an endpoint's failure counts (see the class comment).
   * 'poison' when they are the suspect, which has now failed alone often enough: dead-letter it.
   */
  failed(records: readonly OutboxRecord[]): 'poison' | 'retry' {
    if (records.length === 0) return 'retry';
    let s = this.state;
    // The endpoint failed a batch without the suspect as well: it is down, not the event.
    if (s.suspect !== null && !records.some((r) => r.uuid === s.suspect)) s = POISON_SEARCH_IDLE;
    const first = records[0]!.uuid;
    if (s.suspect === first && records.length === 1) {
      const suspectFailures = s.acceptedSince ? s.suspectFailures + 1 : s.suspectFailures;
      if (suspectFailures >= POISON_LONE_FAILURES) {
        this.state = POISON_SEARCH_IDLE;
        return 'poison';
      }
      this.state = { ...s, suspectFailures, acceptedSince: false };
      return 'retry';
    }
    const headFailures = first === s.head ? s.headFailures + 1 : 1;
    if (s.cap === null && headFailures < 2) {
      this.state = { ...s, head: first, headFailures };
      return 'retry';
    }
    this.state =
      records.length === 1
        ? { ...POISON_SEARCH_IDLE, cap: 1, suspect: first, suspectFailures: 1 }
        : {
            ...s,
            head: first,
            headFailures,
            cap: Math.ceil(records.length / 2),
            acceptedSince: false,
            probeFailed: false,
          };
    return 'retry';
  }
}

/**
 * Network errors of a request that never reached a server: the endpoint is down or unknown, which
 * no batch causes (a batch that crashes a server ends in a reset or a timeout instead).
 */
const NOT_REACHED_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/**
 * Whether a failed attempt says something about its batch (see the class comment): retryable, but
 * not a 503 and not a connection that was never made (its code, on the error or along its causes;
 * browsers give none, so there every network error counts).
 */
export function countsAgainstBatch(outcome: SendOutcome): boolean {
  if (outcome.kind !== 'failed' || outcome.failure !== 'retryable' || outcome.status === 503) return false;
  let at: unknown = outcome.error;
  for (let depth = 0; depth < 8 && at !== null && typeof at === 'object'; depth++) {
    const { code, cause } = at as { code?: unknown; cause?: unknown };
    if (typeof code === 'string' && NOT_REACHED_CODES.has(code)) return false;
    at = cause;
  }
  return true;
}

/** A saved search as written by `PoisonIsolation`, or null for anything else (damaged, hand-edited). */
export function parsePoisonSearchState(saved: unknown): PoisonSearchState | null {
  if (saved === null || typeof saved !== 'object') return null;
  const s = saved as Record<string, unknown>;
  const idOrNull = (v: unknown): v is string | null =>
    v === null || (typeof v === 'string' && v.length <= 200);
  const count = (v: unknown): v is number =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1e6;
  if (!idOrNull(s['head']) || !idOrNull(s['suspect'])) return null;
  if (!count(s['headFailures']) || !count(s['suspectFailures'])) return null;
  const cap = s['cap'];
  if (cap !== null && !(count(cap) && cap >= 1)) return null;
  if (typeof s['acceptedSince'] !== 'boolean') return null;
  const probeFailed = s['probeFailed'] === undefined ? false : s['probeFailed'];
  if (typeof probeFailed !== 'boolean') return null;
  if (s['suspect'] !== null && cap !== 1) return null;
  return {
    head: s['head'],
    headFailures: s['headFailures'],
    cap,
    suspect: s['suspect'],
    suspectFailures: s['suspectFailures'],
    acceptedSince: s['acceptedSince'],
    probeFailed,
  };
}
