import type { BatchRefusal, DeliveryOptions, DeliveryStats, SavedSending } from '@homing/client';
import {
  breakerStateKey,
  createNodePlatform,
  Delivery,
  DeliveryOptionError,
  parsePoisonSearchState,
  POISON_SEARCH_STATE_KEY,
  resolveDeliveryOptions,
  savedServerWaitAt,
  serverWaitStateKey,
  SENDING_STATE_KEY,
} from '@homing/client';
import { watchClaims } from './claimWatch.js';
import { Progress } from './flushProgress.js';
import { runFlushRounds } from './flushRounds.js';
import type { ConsentWithdrawn } from './flushConsent.js';
import { consentWithdrawn, refuseWithoutConsent } from './flushConsent.js';
import type { FlushDrops } from './flushSummary.js';
import { everyEndpointWaits, reportFlush, type HeldWait } from './flushSummary.js';
import type { CommandIo, Outbox, OutboxInspector } from './outboxCommand.js';
import { CommandError, openOutbox, processIo, runCommand } from './outboxCommand.js';

export interface FlushOptions {
  outbox: string;
  /** With `host`; default homing. Without `host`, the endpoints the app saved in the outbox. */
  destination?: string;
  host?: string;
  key?: string;
  /** ms, default 30 000. */
  timeout?: string | number;
  /** Forget a saved open circuit and try now. */
  force?: boolean;
}

/** Exit code of a flush stopped by SIGINT / SIGTERM / SIGHUP, as shells report a command killed by SIGINT. */
export const INTERRUPTED_EXIT_CODE = 130;

const FLUSH_DESTINATIONS = ['homing', 'posthog', 'segment'];

/** The endpoint the flags name, or null without --host (then the app's saved endpoints are used). */
function flagDeliveryOptions(options: FlushOptions): DeliveryOptions | null {
  if (options.host === undefined) {
    if (options.key !== undefined || options.destination !== undefined) {
      throw new CommandError(
        '--key and --destination go with --host',
        'give all three, or none to send where the app sends (saved in the outbox)',
        2,
      );
    }
    return null;
  }
  const destination = options.destination ?? 'homing';
  // A custom destination is a function in the app's code: nothing a command line can name.
  if (!FLUSH_DESTINATIONS.includes(destination)) {
    throw new CommandError(
      `--destination must be one of ${FLUSH_DESTINATIONS.join(', ')}, got "${destination}"`,
      'a custom destination is a function in your app: flush from it with telemetry.flush()',
      2,
    );
  }
  if (options.key === undefined) {
    throw new CommandError(
      '--key is needed with --host',
      'the write key (Homing, Segment) or project API key (PostHog)',
      2,
    );
  }
  try {
    return resolveDeliveryOptions({
      endpoints: [{ destination: destination as 'homing', host: options.host, key: options.key }],
      ...FLUSH_DRIVEN,
    });
  } catch (error) {
    if (error instanceof DeliveryOptionError) {
      const flag = /^endpoints\[0\]\.(destination|host|key)$/.exec(error.option)?.[1];
      throw new CommandError(error.message, flag ? `Check --${flag}.` : undefined, 2);
    }
    throw error;
  }
}

/** The flush drives sending; no timer of its own, no exit hook. */
const FLUSH_DRIVEN = { intervalMs: 60_000, flushOnExit: false } as const;

/** Where the app that wrote the outbox sends (its mode and endpoints, names kept so its breakers apply). */
async function savedDeliveryOptions(outbox: Outbox): Promise<DeliveryOptions> {
  const saved = await outbox.getState<SavedSending>(SENDING_STATE_KEY);
  if (saved === undefined) {
    throw new CommandError(
      'this outbox has no endpoint saved to send to (an app saves its endpoints when its delivery starts; custom ones cannot be)',
      'name one: --host URL --key KEY, and --destination posthog or segment if it is not a Homing server',
      2,
    );
  }
  try {
    return resolveDeliveryOptions({
      mode: saved.mode,
      endpoints: saved.endpoints.map((e) => ({
        name: e.name,
        destination: e.destination,
        host: e.host,
        key: e.key,
      })),
      // The app's breaker period: its saved open breakers are not tried again sooner, and the
      // hint below names when they will be.
      ...(saved.breaker === undefined ? {} : { breaker: saved.breaker }),
      ...FLUSH_DRIVEN,
    });
  } catch (error) {
    throw new CommandError(
      `the endpoints saved in the outbox cannot be used (${error instanceof Error ? error.message : String(error)})`,
      'name one: --host URL --key KEY (and --destination posthog or segment if needed)',
      2,
    );
  }
}

function parseTimeout(value: FlushOptions['timeout']): number {
  if (value === undefined) return 30_000;
  // Number() would read '' as 0, '0x10' as 16 and '1e3' as 1000: only plain digits are ms.
  const ms = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(ms) || ms < 0 || ms > 2_147_483_647) {
    throw new CommandError(
      `--timeout must be a whole number of ms from 0 to 2147483647, got ${String(value)}`,
      undefined,
      2,
    );
  }
  return ms;
}

/**
 * What stops a flush: Ctrl-C, a kill, and SIGHUP, which a flush gets when its terminal or ssh
 * session closes (Node's default for it, exit 129 at once, left a stale lock and a batch in flight).
 */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Aborted on the first of STOP_SIGNALS while `body` runs; the handlers go with it. */
async function onSignals<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let firstAt = -1;
  // Handled for the whole flush, cleanup included: a signal with no handler left kills the process
  // with its lock behind. The same signal delivered twice (npx forwarding a Ctrl-C the terminal
  // also sent; a closing terminal's shell and kernel both sending SIGHUP) comes milliseconds apart
  // and is the one stop; a signal a second later is the user insisting, and ends it at once.
  const onSignal = (): void => {
    if (firstAt < 0) {
      firstAt = performance.now();
      controller.abort();
    } else if (performance.now() - firstAt >= REPEATED_SIGNAL_MS) process.exit(130);
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  try {
    return await body(controller.signal);
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}

/** A stop signal within this of the first, ms, is the same one delivered twice (see onSignals). */
const REPEATED_SIGNAL_MS = 1_000;

/**
 * Sends what is in the outbox now, through the same delivery (retry, breaker, dead letters) the
 * client uses. `signal` stops it early (by default SIGINT / SIGTERM / SIGHUP): what is in flight is put
 * back and the command says what is still queued.
 */
export async function flush(
  options: FlushOptions,
  io: CommandIo = processIo,
  signal?: AbortSignal,
): Promise<number> {
  if (signal === undefined) return onSignals((s) => flush(options, io, s));
  return runCommand(io, async () => {
    const fromFlags = flagDeliveryOptions(options);
    const timeoutMs = parseTimeout(options.timeout);
    const { outbox, directory, inspector } = await openOutbox(options.outbox);
    // From the first read on (the outbox cuts a torn tail when it first reads a segment): dead
    // letters discarded past the outbox's dead-letter bounds, and damaged records cut where they
    // were met, which the summary must not pass over.
    const drops = { overflow: 0, corrupt: 0, retention: 0 };
    const stopCounting = outbox.onDrop((drop) => {
      if (drop.reason === 'overflow' || drop.reason === 'corrupt' || drop.reason === 'retention')
        drops[drop.reason] += drop.count;
    });
    try {
      const resolved = fromFlags ?? (await savedDeliveryOptions(outbox));
      await refuseWithoutConsent(directory, outbox);
      const failed = await drain(
        outbox,
        inspector,
        directory,
        resolved,
        timeoutMs,
        options.force === true,
        io,
        {
          saveSending: fromFlags === null,
          signal,
          drops,
        },
      );
      if (failed === 'interrupted') return INTERRUPTED_EXIT_CODE;
      if (typeof failed === 'object' && 'consent' in failed) {
        throw failed.consent === 'unreadable'
          ? new CommandError(
              `the consent the app remembers became unreadable while this ran (it may be a denial): stopped after ${failed.sent} events, nothing more was sent`,
              `run this again once ${directory} is readable`,
            )
          : new CommandError(
              `the app's user set consent to ${failed.consent} while this ran: stopped after ${failed.sent} events, nothing more was sent`,
              'what is left is not to be sent unless the app gets consent again',
            );
      }
      if (typeof failed === 'object') throw refusedRequest(failed, fromFlags !== null);
      return failed ? 1 : 0;
    } finally {
      stopCounting();
      await outbox.close();
    }
  });
}

/**
 * Statuses that say the request was wrong, not the events: a key the server does not know or
 * lets not send, or a URL where nothing takes events. Sent again with the right key or URL, the
 * same events are taken, so they stay queued instead of going to the dead letters.
 */
const REQUEST_REFUSALS = new Set([401, 403, 404, 405]);

function refusedRequest(refusal: BatchRefusal, fromFlags: boolean): CommandError {
  const credential = refusal.status === 401 || refusal.status === 403;
  const flags = credential ? '--key' : '--host (the base URL only, without /ingest, /batch or /v1/batch)';
  return new CommandError(
    `${refusal.endpoint} refused the request (${refusal.reason}); nothing was dead-lettered, the events stay in the outbox`,
    fromFlags
      ? `check ${flags}${credential ? ' and --destination' : ''}, then run this again`
      : `the ${credential ? 'key' : 'URL'} saved by the app is refused: name the right one with --host URL --key KEY`,
  );
}

async function drain(
  outbox: Outbox,
  inspector: OutboxInspector,
  directory: string,
  resolved: DeliveryOptions,
  timeoutMs: number,
  force: boolean,
  io: CommandIo,
  { saveSending, signal, drops }: { saveSending: boolean; signal: AbortSignal; drops: FlushDrops },
): Promise<boolean | 'interrupted' | BatchRefusal | ConsentWithdrawn> {
  // Monotonic: a wall clock stepped meanwhile must not stretch or cut the budget.
  const now = () => performance.now();
  const deadlineMs = now() + timeoutMs;
  const ids = resolved.endpoints.map((e) => e.id);
  if (force) {
    for (const id of ids) {
      await outbox.setState(breakerStateKey(id), undefined);
      await outbox.setState(serverWaitStateKey(id), undefined);
    }
  }
  const before = await outbox.size();
  const progress = new Progress(io, before.events);
  let refused: ((refusal: BatchRefusal) => void) | undefined;
  const requestRefused = new Promise<BatchRefusal>((resolve) => (refused = resolve));
  // Ends the rounds (a wait for another process among them) when the flush ends otherwise.
  const over = new AbortController();
  const platform = createNodePlatform();
  const claims = watchClaims(outbox);
  const delivery = new Delivery(claims.outbox, resolved, {
    platform,
    logger: { debug() {}, warn() {}, error() {} },
    saveSending,
    keepRefused: (refusal) => {
      if (refusal.status === undefined || !REQUEST_REFUSALS.has(refusal.status)) return false;
      refused?.(refusal);
      return true;
    },
    emit: (name, payload) => {
      if (name === 'sent') progress.add((payload as { count: number }).count);
      // Once stopped (Ctrl-C, or the flush ended otherwise), the batches in flight fail as
      // aborted: nothing will try them again, so "failed ...; next try in 7s" was wrong.
      if (name === 'delivery-error' && !signal.aborted && !over.signal.aborted) {
        const e = payload as { endpoint: string; error: unknown; retryInMs?: number };
        progress.failed(
          e.endpoint,
          e.error instanceof Error ? e.error.message : String(e.error),
          e.retryInMs,
        );
      }
    },
  });
  const interrupted = new Promise<'interrupted'>((resolve) => {
    if (signal.aborted) resolve('interrupted');
    signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
  });
  // Checked at the start (refuseWithoutConsent); a denial while this runs (the app's user said
  // no) stops it too: what the app clears must not go out from here meanwhile.
  const withdrawn = consentWithdrawn(directory, outbox);
  delivery.start();
  const stopWaitNotes = noteSavedWait(delivery, ids, progress, () => deadlineMs - now());
  let result;
  try {
    const rounds = runFlushRounds({
      delivery,
      claims,
      inspector,
      now,
      deadlineMs,
      stop: over.signal,
      failedVisibly: () => {
        const stats = delivery.stats();
        // Each endpoint waiting, whichever its wait (open circuits, Retry-Afters, or some of each).
        return stats.lastError !== null || everyEndpointWaits(stats, ids) !== null;
      },
      onWaiting: (holder, upToMs) => progress.waiting(holder.who, holder.heartbeatAgeMs, upToMs),
    });
    // Ended otherwise, the rounds stop at their next step: a failure there has no one to tell.
    rounds.catch(() => undefined);
    result = await Promise.race([rounds, interrupted, requestRefused, withdrawn.promise]);
  } finally {
    stopWaitNotes();
    over.abort();
    withdrawn.stop();
    // Aborts what is in flight: its batch goes back to the queue for the next run.
    await delivery.shutdown(0);
    // flush runs in-process too (tests, programs calling the command): no socket kept alive after it.
    platform.close?.();
    progress.end();
  }
  if (typeof result === 'object' && 'endpoint' in result) return result;
  if (typeof result === 'object' && 'consent' in result) return { ...result, sent: delivery.stats().sent };
  if (result === 'interrupted' || result.kind === 'stopped') {
    const left = await outbox.size();
    io.stdout.write(
      `Interrupted: sent ${delivery.stats().sent} events; ${left.events} still queued, nothing lost.\n`,
    );
    return 'interrupted';
  }
  // Saved by the delivery before its shutdown resolved; unreadable, the summary only says less.
  const search = await outbox
    .getState<unknown>(POISON_SEARCH_STATE_KEY)
    .then(parsePoisonSearchState, () => null);
  const stats = delivery.stats();
  const asked = await askedWaits(outbox, ids, resolved.maxRetryAfterMs);
  const askedUntilMs = everyEndpointAskedUntil(asked, ids);
  const heldWaits = everyEndpointHeld(asked, stats, ids);
  return reportFlush(result, {
    io,
    stats,
    ids,
    directory,
    drops,
    force,
    timeoutMs,
    // A search is on, and the endpoint took events meanwhile: else it is down (a search begins
    // on any batch failing twice), and the advice is to check it.
    narrowingFailingEvent: search !== null && search.cap !== null && (search.acceptedSince || stats.sent > 0),
    askedUntilMs,
    heldWaits,
  });
}

/**
 * When each endpoint's wait that it asked for (a Retry-After, a 429: in this run or an earlier
 * one, saved in the outbox for the next) ends; null for one that asked for none.
 */
async function askedWaits(
  outbox: Outbox,
  ids: readonly string[],
  maxRetryAfterMs: number,
): Promise<Map<string, number | null>> {
  const now = Date.now();
  const asked = new Map<string, number | null>();
  for (const id of ids) {
    const saved = await outbox.getState<unknown>(serverWaitStateKey(id)).catch(() => undefined);
    asked.set(id, savedServerWaitAt(saved, now, maxRetryAfterMs)?.untilMs ?? null);
  }
  return asked;
}

/** When the first endpoint may be tried again if every one asked for time; null when one did not. */
function everyEndpointAskedUntil(asked: Map<string, number | null>, ids: readonly string[]): number | null {
  let earliest: number | null = null;
  for (const id of ids) {
    const until = asked.get(id) ?? null;
    if (until === null) return null;
    earliest = Math.min(earliest ?? until, until);
  }
  return earliest;
}

/**
 * Each endpoint's wait when every one waits on an open circuit or on a wait it asked for; null
 * when one could be tried, or none waits on a circuit and none on a wait it asked for alone (the
 * summary has its own words for those).
 */
function everyEndpointHeld(
  asked: Map<string, number | null>,
  stats: DeliveryStats,
  ids: readonly string[],
): HeldWait[] | null {
  const now = Date.now();
  const waits: HeldWait[] = [];
  for (const id of ids) {
    const openUntil = stats.breakers[id]?.openUntilMs ?? 0;
    const askedUntil = asked.get(id) ?? null;
    if (openUntil > now) waits.push({ endpoint: id, kind: 'circuit', untilMs: openUntil });
    else if (askedUntil !== null) waits.push({ endpoint: id, kind: 'asked', untilMs: askedUntil });
    else return null;
  }
  return waits.some((w) => w.kind === 'circuit') && waits.some((w) => w.kind === 'asked') ? waits : null;
}

/** How often a flush looks whether every endpoint waits (a restored open circuit, a saved Retry-After). */
const WAIT_LOOK_MS = 250;

/**
 * Says when the flush waits, before its first attempt, on what an earlier run left: a circuit
 * open, or a Retry-After, restored once the delivery starts (with the default timeout it printed
 * nothing for up to 30 s). Only a wait within the flush's budget: a longer one ends the flush at
 * once and its summary says why. Waits after an attempt of its own are said by `failed`.
 */
function noteSavedWait(
  delivery: Delivery,
  ids: readonly string[],
  progress: Progress,
  leftMs: () => number,
): () => void {
  const timer = setInterval(() => {
    const stats = delivery.stats();
    if (stats.sent > 0 || stats.failedAttempts > 0) return clearInterval(timer);
    const waits = everyEndpointWaits(stats, ids);
    if (waits === null) return;
    const waitMs = waits.untilMs - Date.now();
    if (waitMs > leftMs()) return;
    clearInterval(timer);
    progress.circuitWait(waits.endpoint, waits.circuitOpen ? 'circuit' : 'asked', waitMs);
  }, WAIT_LOOK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
