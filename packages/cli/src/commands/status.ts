import {
  breakerStateKey,
  CONSENT_HOLD_STATE_KEY,
  consentFile,
  ConsentUnreadableError,
  DEFAULT_DELIVERY_OPTIONS,
  ENDPOINTS_STATE_KEY,
  openPeriodMs,
  parseConsentHold,
  parsePoisonSearchState,
  POISON_LONE_FAILURES,
  POISON_SEARCH_STATE_KEY,
  savedServerWaitAt,
  SENDING_STATE_KEY,
  serverWaitStateKey,
} from '@homing/client';
import { displayWidth, padToWidth } from '../displayWidth.js';
import { terminalJson, terminalText } from '../terminalText.js';
import type { CommandIo, OutboxInspector } from './outboxCommand.js';
import { formatBytes, formatDuration, inspectOutbox, processIo, runCommand } from './outboxCommand.js';

export interface StatusReport {
  outbox: string;
  queue: { events: number; bytes: number };
  /**
   * Age of the oldest pending event, ms; null when the queue is empty. Negative when it is stamped
   * in the future: a clock was ahead when it was tracked (or is behind now).
   */
  oldestEventAgeMs: number | null;
  /**
   * The retention the app saved in the outbox (`retentionMs`), or null when it saved none or
   * keeps events for good: events older are dropped unsent when the outbox is next delivered.
   */
  retentionMs: number | null;
  deadLetters: number;
  /** Unreadable ranges in the segments (skipped; the next process to deliver cuts them). */
  damaged: { ranges: number; bytes: number };
  /** Unreadable ranges in the dead-letter file (not listed; a replay cuts them). */
  damagedDeadLetters: { ranges: number; bytes: number };
  /** Segment files that cannot be read at all (their events are not in `queue`). */
  unreadable: Array<{ file: string; error: string }>;
  /** The process delivering from the outbox now (holding its delivery lock), or null. */
  delivery: { pid: number | null; heartbeatAgeMs: number; stale: boolean } | null;
  /**
   * `openUntilMs`: when the app's client, restoring the saved breaker, would next try.
   * `waitUntilMs`: the end of a wait the endpoint asked for (Retry-After on a 429 or 503), which
   * the app's next run honours too; null when none is in force.
   */
  endpoints: Array<{ id: string; state: string; openUntilMs: number | null; waitUntilMs: number | null }>;
  /**
   * The app's delivery narrowing down an event its endpoint fails on every time while it takes
   * others: claims of at most `batchEvents`; `suspect`, once found, is the event that failed alone,
   * `suspectFailures` times of the `deadLetterAfter` that send it to the dead letters. Null: no
   * such search.
   */
  failingEvent: {
    batchEvents: number;
    suspect: string | null;
    suspectFailures: number;
    deadLetterAfter: number;
  } | null;
  /**
   * The consent the app remembered (`setConsent`), or null when it kept none; 'unreadable' when
   * one is stored that cannot be read (`consentError` says why): the app holds its events then.
   * 'pending' too when the app marked its events held for consent (its `consent` option, which
   * it does not remember), since `consentHeldSinceMs`.
   */
  consent: 'granted' | 'denied' | 'pending' | 'unreadable' | null;
  consentError?: string;
  consentHeldSinceMs?: number;
}

/**
 * What is in an outbox: queue, oldest event, dead letters, who delivers, and each endpoint's saved
 * breaker. Read-only: nothing in the outbox changes (no lock, no cleanup, no limits applied).
 */
export async function readStatus(
  outbox: OutboxInspector,
  directory: string,
  now = Date.now(),
): Promise<StatusReport> {
  const size = await outbox.size();
  const retentionMs = (await outbox.savedLimits())?.retentionMs ?? 0;
  const lock = await outbox.deliveryLock();
  const known = await outbox.getState<unknown>(ENDPOINTS_STATE_KEY);
  const ids = Array.isArray(known) ? known.filter((k): k is string => typeof k === 'string') : [];
  const periods = savedBreakerPeriods(await outbox.getState<unknown>(SENDING_STATE_KEY));
  const endpoints: StatusReport['endpoints'] = [];
  for (const id of ids) {
    const snap = await outbox.getState<{ state?: unknown; openUntil?: unknown; openings?: unknown }>(
      breakerStateKey(id),
    );
    const state = typeof snap?.state === 'string' ? snap.state : 'closed';
    const openings = typeof snap?.openings === 'number' ? snap.openings : 1;
    const openUntil =
      typeof snap?.openUntil === 'number' && state === 'open'
        ? restoredOpenUntil(snap.openUntil, openPeriodMs(periods, openings), now)
        : null;
    const wait = savedServerWaitAt(
      await outbox.getState<unknown>(serverWaitStateKey(id)),
      now,
      DEFAULT_DELIVERY_OPTIONS.maxRetryAfterMs,
    );
    endpoints.push({ id, state, openUntilMs: openUntil, waitUntilMs: wait?.untilMs ?? null });
  }
  const search = parsePoisonSearchState(await outbox.getState<unknown>(POISON_SEARCH_STATE_KEY));
  // Nothing queued, nothing failing (a denial cleared the queue): the app's next claim ends the search.
  const failingEvent =
    search === null || search.cap === null || size.events === 0
      ? null
      : {
          batchEvents: search.cap,
          suspect: search.suspect,
          suspectFailures: search.suspectFailures,
          deadLetterAfter: POISON_LONE_FAILURES,
        };
  let consent: StatusReport['consent'] = null;
  let consentError: string | undefined;
  try {
    // As the app, running as the outbox's owner, reads it: `sudo homing status` shows its grant too.
    consent = (await consentFile(directory, { readAs: 'owner' }).read()) ?? null;
  } catch (error) {
    if (!(error instanceof ConsentUnreadableError)) throw error;
    consent = 'unreadable';
    consentError = error.message;
  }
  const hold = parseConsentHold(await outbox.getState<unknown>(CONSENT_HOLD_STATE_KEY));
  if (hold !== null && (consent === null || consent === 'granted')) consent = 'pending';
  return {
    outbox: directory,
    queue: { events: size.events, bytes: size.bytes },
    // Not clamped at 0: an event stamped ahead showed as "0s ago", and nothing said a clock was wrong.
    oldestEventAgeMs: size.oldestTimestampMs === null ? null : now - size.oldestTimestampMs,
    retentionMs: retentionMs > 0 ? retentionMs : null,
    deadLetters: size.deadLetters,
    damaged: outbox.damaged(),
    damagedDeadLetters: await outbox.deadLetterDamage(),
    unreadable: outbox.unreadableSegments(),
    delivery:
      lock === null ? null : { pid: lock.pid, heartbeatAgeMs: lock.heartbeatAgeMs, stale: lock.stale },
    endpoints,
    failingEvent,
    consent,
    ...(consentError === undefined ? {} : { consentError }),
    ...(hold === null ? {} : { consentHeldSinceMs: hold.sinceMs }),
  };
}

/**
 * The app's breaker periods (the first and the longest), saved with its endpoints, or the
 * default ones (what `homing flush` uses too when the outbox saved none).
 */
function savedBreakerPeriods(sending: unknown): { halfOpenAfterMs: number; initialHalfOpenAfterMs: number } {
  const breaker =
    sending !== null && typeof sending === 'object' ? (sending as { breaker?: unknown }).breaker : undefined;
  const saved = (key: 'halfOpenAfterMs' | 'initialHalfOpenAfterMs'): number => {
    const ms =
      breaker !== null && typeof breaker === 'object' ? (breaker as Record<string, unknown>)[key] : undefined;
    return typeof ms === 'number' && ms >= 0 && Number.isFinite(ms)
      ? ms
      : DEFAULT_DELIVERY_OPTIONS.breaker[key];
  };
  return {
    halfOpenAfterMs: saved('halfOpenAfterMs'),
    initialHalfOpenAfterMs: saved('initialHalfOpenAfterMs'),
  };
}

/**
 * When the client restoring this breaker would next try: a saved time more than its open period
 * (the one of its count of openings in a row) ahead (written by a clock that was ahead, or read
 * by one stepped back) is held to that period from now, as the breaker's restore does. Shown as saved, status said "next try in 10d" while a
 * flush in the same state tried again within the period.
 */
function restoredOpenUntil(openUntil: number, periodMs: number, now: number): number {
  return Math.min(openUntil, now + periodMs);
}

function formatAge(ageMs: number | null): string {
  if (ageMs === null) return '-';
  // From half a second ahead on, which formatDuration would round to a whole second.
  if (ageMs <= -500) return `${formatDuration(-ageMs)} in the future (is a clock wrong?)`;
  return `${formatDuration(ageMs)} ago`;
}

/** Said of an oldest event past the app's retention: the queue counts events that will never be sent. */
function pastRetention({ oldestEventAgeMs: age, retentionMs }: StatusReport): string {
  if (age === null || retentionMs === null || age <= retentionMs) return '';
  return `, past the app's retention (${formatDuration(retentionMs)}): such events are dropped unsent when the outbox is next delivered`;
}

/** The Consent row, shown only when consent holds events back (granted, or never set, is usual). */
const CONSENT_ROWS = {
  pending: 'pending: the app holds its events until its user consents; flush sends nothing',
  denied: 'denied: the app sends nothing and cleared what it held',
  unreadable:
    'unreadable (it may be a denial): the app holds its events until it can read it; flush sends nothing',
} as const;

export function formatStatus(report: StatusReport, now = Date.now()): string {
  const rows: Array<[string, string]> = [
    ['Outbox', report.outbox],
    ['Queue', `${report.queue.events} events (${formatBytes(report.queue.bytes)})`],
    ['Oldest event', formatAge(report.oldestEventAgeMs) + pastRetention(report)],
    ['Dead letters', String(report.deadLetters)],
    ['Delivering', formatDelivery(report.delivery)],
  ];
  if (report.consent !== 'granted' && report.consent !== null) {
    const why =
      report.consent === 'unreadable' && report.consentError !== undefined ? ` (${report.consentError})` : '';
    rows.push(['Consent', `${CONSENT_ROWS[report.consent]}${why}`]);
  }
  const { ranges, bytes } = report.damaged;
  if (ranges > 0) {
    rows.push([
      'Damaged',
      `${ranges} unreadable ${ranges === 1 ? 'range' : 'ranges'} (${formatBytes(bytes)}), skipped; cut when the app next delivers`,
    ]);
  }
  const dl = report.damagedDeadLetters;
  if (dl.ranges > 0) {
    rows.push([
      'Damaged dead letters',
      `${dl.ranges} unreadable ${dl.ranges === 1 ? 'range' : 'ranges'} (${formatBytes(dl.bytes)}) in dead-letters.log, not counted above; they cannot be replayed`,
    ]);
  }
  const [first, ...others] = report.unreadable;
  if (first !== undefined) {
    const more = others.length === 0 ? '' : ` and ${others.length} more`;
    rows.push(['Unreadable', `${first.file} (${first.error})${more}: its events wait, not counted above`]);
  }
  const failing = report.failingEvent;
  if (failing !== null) {
    rows.push([
      'Failing event',
      failing.suspect === null
        ? `the endpoint keeps failing a batch it is sent: batches of at most ${failing.batchEvents} events narrow down the event`
        : `${failing.suspect} fails alone (${failing.suspectFailures} of ${failing.deadLetterAfter} times, each after another event went through): dead-lettered at ${failing.deadLetterAfter}`,
    ]);
  }
  if (report.endpoints.length === 0) rows.push(['Endpoints', 'none recorded yet']);
  for (const e of report.endpoints) {
    let state = e.state;
    if (e.openUntilMs !== null) {
      state +=
        e.openUntilMs > now ? ` (next try in ${formatDuration(e.openUntilMs - now)})` : ' (a probe is due)';
    }
    if (
      e.waitUntilMs !== null &&
      e.waitUntilMs > now &&
      (e.openUntilMs === null || e.waitUntilMs > e.openUntilMs)
    ) {
      state += ` (the server asked to wait: next try in ${formatDuration(e.waitUntilMs - now)})`;
    }
    rows.push([`Breaker ${e.id}`, state]);
  }
  // Endpoint names, breaker states, file names and errors come from the outbox's files: printed
  // as text, one row each, and measured as printed, in columns (an endpoint's name may hold CJK
  // or an emoji).
  const cells = rows.map(([k, v]) => [terminalText(k), terminalText(v)] as const);
  const width = Math.max(...cells.map(([k]) => displayWidth(k)));
  return cells.map(([k, v]) => `${padToWidth(k, width)}  ${v}`).join('\n') + '\n';
}

function formatDelivery(delivery: StatusReport['delivery']): string {
  if (delivery === null) return 'no process';
  const who = delivery.pid === null ? 'a process' : `pid ${delivery.pid}`;
  const beat = `heartbeat ${formatDuration(delivery.heartbeatAgeMs)} ago`;
  return delivery.stale ? `nobody (${who} left a stale lock, ${beat})` : `${who} (${beat})`;
}

export interface StatusOptions {
  outbox: string;
  json?: boolean;
}

export async function status(options: StatusOptions, io: CommandIo = processIo): Promise<number> {
  return runCommand(io, async () => {
    const { inspector, directory } = await inspectOutbox(options.outbox);
    const report = await readStatus(inspector, directory);
    io.stdout.write(options.json === true ? `${terminalJson(report, 2)}\n` : formatStatus(report));
    return 0;
  });
}
