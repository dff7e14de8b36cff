import { FILE_OUTBOX_DEFAULTS, type DeliveryStats } from '@homing/client';
import { terminalText } from '../terminalText.js';
import type { RoundsEnd } from './flushRounds.js';
import type { CommandIo } from './outboxCommand.js';
import { CommandError, formatDuration } from './outboxCommand.js';
import { shellQuoted } from './shellQuoted.js';
import type { OtherDeliverer } from './otherDeliverer.js';

/** Events the outbox dropped while a flush ran, which its summary names, by reason. */
export interface FlushDrops {
  /** Dead letters discarded past the outbox's dead-letter bounds. */
  readonly overflow: number;
  /** Damaged records cut where they were met. */
  readonly corrupt: number;
  /** Events past the retention the app saved, dropped unsent. */
  readonly retention: number;
}

/** Nothing failed, nobody else delivers, and events the flush saw stayed queued. */
function unexplained(directory: string): CommandError {
  return new CommandError(
    'could not deliver every event: nothing failed, but nothing more could be claimed from the outbox',
    `run this again; homing status --outbox ${terminalText(shellQuoted(directory))} shows what is queued and which process delivers it; the events stay in the outbox`,
  );
}

/** How old a lock's heartbeat is (refreshed every 2 s) before its holder is called stopped. */
const STOPPED_HOLDER_MS = 10_000;
/** A lock unrefreshed this long is taken over (after a watch of a few heartbeats). */
const STALE_LOCK_MS = FILE_OUTBOX_DEFAULTS.staleMs;

/** Another process kept the delivery lock all the time this flush had. */
function heldElsewhere(
  holder: OtherDeliverer,
  events: number,
  timeoutMs: number,
  stopped: boolean,
): CommandError {
  if (stopped || holder.heartbeatAgeMs >= STOPPED_HOLDER_MS) {
    return new CommandError(
      `the outbox is held by ${holder.who}, which has stopped refreshing its lock (last ${formatDuration(holder.heartbeatAgeMs)} ago: suspended with Ctrl-Z, paused in a debugger, or blocked), still after ${formatDuration(timeoutMs)}`,
      `${stopped ? 'it was found stopped only as the time ran out; ' : ''}resume or end ${holder.who}, or run this again with a --timeout longer than ${formatDuration(STALE_LOCK_MS + STOPPED_HOLDER_MS)}: a lock left unrefreshed for ${formatDuration(STALE_LOCK_MS)} is taken over; the ${events} events stay in the outbox`,
    );
  }
  return new CommandError(
    `the outbox is being delivered by ${holder.who} (heartbeat ${formatDuration(holder.heartbeatAgeMs)} ago), still after ${formatDuration(timeoutMs)}; only one process sends from an outbox at a time`,
    `it is sending the ${events} events queued; wait for it, or give more time with --timeout MS, or stop it and run this again; the events stay in the outbox`,
  );
}

/** Every endpoint's circuit open: the earliest to close, or null when one is not open. */
export function allCircuitsOpen(
  stats: DeliveryStats,
  ids: readonly string[],
): { openUntilMs: number } | null {
  const openUntil = ids.map((id) => stats.breakers[id]?.openUntilMs ?? null);
  const now = Date.now();
  if (!openUntil.every((at) => at !== null && at > now)) return null;
  return { openUntilMs: Math.min(...(openUntil as number[])) };
}

/**
 * Every endpoint waits, whichever the wait (an open circuit, a saved Retry-After, or both: then
 * the later of the two is its next try): the endpoint tried first and when, and whether its
 * circuit is open; null when one could be tried now.
 */
export function everyEndpointWaits(
  stats: DeliveryStats,
  ids: readonly string[],
): { endpoint: string; untilMs: number; circuitOpen: boolean } | null {
  const now = Date.now();
  let first: { endpoint: string; untilMs: number; circuitOpen: boolean } | null = null;
  for (const id of ids) {
    const b = stats.breakers[id];
    const openUntil = b?.openUntilMs ?? 0;
    const untilMs = Math.max(openUntil, b?.retryAtMs ?? 0);
    if (untilMs <= now) return null;
    if (first === null || untilMs < first.untilMs)
      first = { endpoint: id, untilMs, circuitOpen: openUntil > now };
  }
  return first;
}

/** What a flush that ran to its end reports: the summary on stdout, then what failed. */
export interface FlushReport {
  readonly io: CommandIo;
  readonly stats: DeliveryStats;
  /** The endpoints sent to. */
  readonly ids: readonly string[];
  readonly directory: string;
  /** Dead letters discarded past maxDeadLetters or maxDeadLetterBytes, and damaged records cut, while it ran. */
  readonly drops: FlushDrops;
  readonly force: boolean;
  readonly timeoutMs: number;
  /**
   * The delivery is narrowing down an event the endpoint fails on every time while it takes
   * others (`PoisonIsolation`): the server is reachable, the key is right, one event is the trouble.
   */
  readonly narrowingFailingEvent?: boolean;
  /**
   * Every endpoint asked for time (a Retry-After or a 429, this run or an earlier one) and may be
   * tried again from then; null when one did not.
   */
  readonly askedUntilMs?: number | null;
  /**
   * Each endpoint's wait when every one waits, some on an open circuit and the others on a wait
   * they asked for (this run or an earlier one); null when one could be tried.
   */
  readonly heldWaits?: readonly HeldWait[] | null;
}

/** Why and until when an endpoint is not tried: its circuit is open, or it asked for time. */
export interface HeldWait {
  readonly endpoint: string;
  readonly kind: 'circuit' | 'asked';
  readonly untilMs: number;
}

/** The hint when the failures come from events the endpoint fails on while it takes others. */
function failingEventHint(directory: string): string {
  return (
    'hint: the endpoint fails some events every time while it takes others: the client is narrowing them down ' +
    `(homing status --outbox ${terminalText(shellQuoted(directory))} shows it); each run goes on with it, and such an event ends in the dead letters\n`
  );
}

/**
 * Prints how a flush ended; answers whether it failed (events refused for good, or events that
 * were there to send and were not), or throws the failure that has a message of its own. Events
 * that came in after its last look are not a failure: another run sends them.
 */
export function reportFlush(
  result: Exclude<RoundsEnd, { kind: 'stopped' }>,
  {
    io,
    stats,
    ids,
    directory,
    drops,
    force,
    timeoutMs,
    narrowingFailingEvent = false,
    askedUntilMs = null,
    heldWaits = null,
  }: FlushReport,
): boolean {
  const endpoint = terminalText(ids.join(', '));
  if (result.kind === 'delivered-elsewhere') {
    io.stdout.write(
      `Sent ${result.sent} events to ${endpoint}; the rest was delivered by ${result.holder.who}; 0 still queued.\n`,
    );
  } else if (result.kind === 'drained' && result.arrived > 0) {
    io.stdout.write(
      `Sent ${result.sent} events to ${endpoint}; ${result.arrived} arrived while flushing, still queued.\n`,
    );
  } else {
    const pending = result.kind === 'held-elsewhere' ? result.events : Math.max(0, result.pending);
    io.stdout.write(`Sent ${result.sent} events to ${endpoint}; ${pending} still queued.\n`);
  }
  let failed = false;
  if (drops.corrupt > 0) {
    io.stderr.write(
      `warning: ${drops.corrupt} damaged records (torn or corrupt on disk) were cut from the outbox; they could not be sent\n`,
    );
  }
  if (drops.retention > 0) {
    // Not a failure of this flush (the app's own limit), but the queue it started from held them.
    io.stderr.write(
      `warning: ${drops.retention} ${drops.retention === 1 ? 'event was' : 'events were'} older than the retention the app saved in the outbox (retentionMs) and dropped, not sent\n`,
    );
  }
  if (stats.deadLettered > 0) {
    failed = true;
    const discarded = Math.min(drops.overflow, stats.deadLettered);
    const moved =
      `${stats.deadLettered} ${stats.deadLettered === 1 ? 'event was' : 'events were'} moved to the dead ` +
      'letters (refused for good, or failing alone while the endpoint took other events)';
    io.stderr.write(
      discarded === 0
        ? `error: ${moved}\n`
        : `error: ${moved}; the dead letters keep the newest (the outbox's maxDeadLetters and ` +
            `maxDeadLetterBytes): ${discarded} of the oldest dead letters were discarded\n`,
    );
    io.stderr.write(
      `hint: inspect them with: homing dead-letters --outbox ${terminalText(shellQuoted(directory))}\n`,
    );
  }
  if (result.kind === 'held-elsewhere')
    throw heldElsewhere(result.holder, result.events, timeoutMs, result.stopped === true);
  if (result.kind === 'unexplained') throw unexplained(directory);
  if (result.kind === 'delivered-elsewhere' || result.arrived > 0 || result.pending === 0) return failed;
  // Events that were there to send and were not.
  const breaker = allCircuitsOpen(stats, ids);
  if (breaker !== null) {
    // The failures that opened it say what is wrong (a refused connection, a 5xx): name the last.
    const cause = lastErrorCause(stats);
    io.stderr.write(`error: the circuit for ${endpoint} is open after repeated failures${cause}\n`);
    // Narrowing down a failing event, the server is reachable: no advice to check it.
    if (!(force && narrowingFailingEvent)) {
      io.stderr.write(
        force
          ? 'hint: --force tried it now and it failed again: check --host and that the server is reachable; the events stay in the outbox\n'
          : `hint: it will be tried again in ${formatDuration(nextTryMs(stats, ids, breaker.openUntilMs) - Date.now())}; run this again then, or add --force to try now\n`,
      );
    }
    if (narrowingFailingEvent) io.stderr.write(failingEventHint(directory));
  } else if (askedUntilMs !== null) {
    // The server answered (a 429, a 503) and asked for time: not a matter of host or key.
    const why =
      stats.lastError === null
        ? 'Retry-After, saved by an earlier run'
        : `it answered ${terminalText(stats.lastError.reason)}, with a Retry-After`;
    io.stderr.write(`error: ${endpoint} asked to be left alone for a while (${why})\n`);
    io.stderr.write(
      `hint: it will be tried again in ${formatDuration(nextTryMs(stats, ids, askedUntilMs) - Date.now())}; run this again then, or add --force to try now\n`,
    );
  } else if (result.timedOut) {
    io.stderr.write(`error: timed out after ${formatDuration(timeoutMs)} with events still queued\n`);
    io.stderr.write('hint: run it again, or give more time with --timeout MS; nothing is lost\n');
    if (narrowingFailingEvent) io.stderr.write(failingEventHint(directory));
  } else if (heldWaits !== null && heldWaits.length > 0 && !force) {
    // Some circuits open, the other endpoints asked for time: each waits for its own reason.
    const first = heldWaits.reduce((a, b) => (b.untilMs < a.untilMs ? b : a));
    const each = heldWaits
      .map(
        (w) =>
          `${terminalText(w.endpoint)}: ${w.kind === 'circuit' ? 'circuit open after repeated failures' : 'asked to be left alone for a while (Retry-After)'}`,
      )
      .join('; ');
    const cause = lastErrorCause(stats);
    io.stderr.write(`error: every endpoint waits: ${each}${cause}\n`);
    io.stderr.write(
      `hint: ${terminalText(first.endpoint)} will be tried again in ${formatDuration(first.untilMs - Date.now())}; run this again then, or add --force to try now\n`,
    );
  } else if (stats.lastError === null) {
    throw unexplained(directory);
  } else {
    io.stderr.write(
      `error: could not deliver every event (last error: ${terminalText(stats.lastError.reason)})\n`,
    );
    io.stderr.write(
      narrowingFailingEvent && stats.lastError.endpoint !== 'outbox'
        ? failingEventHint(directory)
        : stats.lastError.endpoint === 'outbox'
          ? // Reading the outbox failed, not sending: the server was never the problem.
            `hint: check that ${terminalText(directory)} is readable and writable by this user and its disk has room; the events stay in the outbox\n`
          : 'hint: check --host and --key and that the server is reachable; the events stay in the outbox\n',
    );
  }
  return true;
}

/** ` (last error: …)` after an error line, or nothing when no attempt failed. */
function lastErrorCause(stats: DeliveryStats): string {
  return stats.lastError === null ? '' : ` (last error: ${terminalText(stats.lastError.reason)})`;
}

/** The next try of any endpoint, a Retry-After it also saved counted (else `fallbackMs`). */
function nextTryMs(stats: DeliveryStats, ids: readonly string[], fallbackMs: number): number {
  return everyEndpointWaits(stats, ids)?.untilMs ?? fallbackMs;
}
