import type { BatchRefusal, DeliveryOptions, SavedSending } from '@homing/client';
import type { ConsentState } from '@homing/client';
import {
  breakerStateKey,
  consentFile,
  ConsentUnreadableError,
  createNodePlatform,
  Delivery,
  DeliveryOptionError,
  resolveDeliveryOptions,
  SENDING_STATE_KEY,
} from '@homing/client';
import type { Command } from 'commander';
import { terminalText } from '../terminalText.js';
import type { CommandIo, Outbox, OutboxInspector } from './outboxCommand.js';
import { CommandError, formatDuration, openOutbox, processIo, runCommand } from './outboxCommand.js';

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

const BAR_WIDTH = 30;
/** How often a flush reads the consent the app remembers, ms: a denial meanwhile stops it. */
const CONSENT_RECHECK_MS = 250;

/** Shows progress on stderr: a bar redrawn in place on a TTY, a plain line per batch otherwise. */
class Progress {
  private done = 0;
  constructor(
    private readonly io: CommandIo,
    private readonly total: number,
  ) {}

  add(count: number): void {
    this.done += count;
    const total = Math.max(this.total, this.done);
    if (this.io.stderr.isTTY === true) {
      const filled = total === 0 ? BAR_WIDTH : Math.round((this.done / total) * BAR_WIDTH);
      const pct = total === 0 ? 100 : Math.floor((this.done / total) * 100);
      this.io.stderr.write(
        `\r[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(pct).padStart(3)}% ${this.done}/${total} events`,
      );
    } else {
      this.io.stderr.write(`flush: ${this.done}/${total} events sent\n`);
    }
  }

  /**
   * A failed attempt: without it a flush against a server that is down shows nothing until its
   * timeout, and looks hung.
   */
  failed(endpoint: string, reason: string, retryInMs: number | undefined): void {
    const next = retryInMs === undefined ? '' : `; next try in ${formatDuration(retryInMs)}`;
    // The endpoint's answer (and its name, saved in the outbox) printed as text, not as commands
    // to the terminal the bar is drawn on.
    const line = `attempt to ${terminalText(endpoint)} failed: ${terminalText(reason)}${next}`;
    if (this.io.stderr.isTTY === true) {
      this.drewLine = true;
      this.io.stderr.write(`\r\x1b[2K${line}`);
    } else this.io.stderr.write(`flush: ${line}\n`);
  }

  private drewLine = false;

  end(): void {
    if (this.io.stderr.isTTY === true && (this.done > 0 || this.drewLine)) this.io.stderr.write('\n');
  }
}

/** Exit code of a flush stopped by SIGINT / SIGTERM, as shells report a command killed by SIGINT. */
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
 * Another live process holding the outbox's delivery lock: only it may send, so a flush here
 * would send nothing. Null when the lock is free, stale, or this process's own.
 */
async function deliveredElsewhere(inspector: OutboxInspector): Promise<CommandError | null> {
  const lock = await inspector.deliveryLock();
  if (lock === null || lock.stale || lock.pid === process.pid) return null;
  const who = lock.pid === null ? 'another process' : `pid ${lock.pid}`;
  return new CommandError(
    `the outbox is being delivered by ${who} (heartbeat ${formatDuration(lock.heartbeatAgeMs)} ago); only one process sends from an outbox at a time`,
    'wait for it to send the queue, or stop it, then run this again; the events stay in the outbox',
  );
}

/** Aborted on the first SIGINT or SIGTERM while `body` runs; the handlers go with it. */
async function onSignals<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    return await body(controller.signal);
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
  }
}

/**
 * Sends what is in the outbox now, through the same delivery (retry, breaker, dead letters) the
 * client uses. `signal` stops it early (by default SIGINT / SIGTERM): what is in flight is put
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
    // letters discarded past the outbox's maxDeadLetters, and damaged records cut where they
    // were met, which the summary must not pass over.
    const drops = { overflow: 0, corrupt: 0 };
    const stopCounting = outbox.onDrop((drop) => {
      if (drop.reason === 'overflow' || drop.reason === 'corrupt') drops[drop.reason] += drop.count;
    });
    try {
      const resolved = fromFlags ?? (await savedDeliveryOptions(outbox));
      await refuseWithoutConsent(directory);
      const busy = await deliveredElsewhere(inspector);
      if (busy !== null) throw busy;
      const failed = await drain(outbox, directory, resolved, timeoutMs, options.force === true, io, {
        saveSending: fromFlags === null,
        signal,
        drops,
      });
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
      if (failed === 'nothing-claimed') {
        // Taken by another process after the check above (an app that started meanwhile).
        throw (await deliveredElsewhere(inspector)) ?? unexplained();
      }
      return failed ? 1 : 0;
    } finally {
      stopCounting();
      await outbox.close();
    }
  });
}

/**
 * The app keeps events while its user's consent is pending (`setConsent('pending')`, saved in
 * the outbox): sending them from here would overrule that user.
 */
async function refuseWithoutConsent(directory: string): Promise<void> {
  const consent = await rememberedConsent(directory);
  if (consent !== 'pending' && consent !== 'denied') return;
  throw new CommandError(
    `the app that writes this outbox holds its events until its user consents (consent is ${consent}); nothing was sent`,
    consent === 'pending'
      ? 'the events go out once the app calls setConsent("granted"); they stay in the outbox until then'
      : 'the app cleared what it held when consent was denied; what is left is not to be sent',
  );
}

/**
 * The consent the app remembers in the outbox directory, read strictly, as the app reads it:
 * one that is stored but cannot be read (a damaged file, an I/O error) may be a denial, so
 * nothing is sent from here while it is so (the app holds its events too).
 */
async function rememberedConsent(directory: string): Promise<ConsentState | undefined> {
  try {
    return await consentFile(directory).read();
  } catch (error) {
    if (!(error instanceof ConsentUnreadableError)) throw error;
    throw new CommandError(
      `${error.message}; nothing was sent: it may say the app's user denied consent`,
      `the app holds its events until it can read it, and writes it again at its next setConsent(); remove ${error.where} only if no user of this install ever denied consent`,
    );
  }
}

interface ConsentWithdrawn {
  consent: string;
  sent: number;
}

/**
 * Resolves once the consent the app remembers in the outbox is pending or denied, or can no
 * longer be read (it may be a denial).
 */
function consentWithdrawn(directory: string): { promise: Promise<ConsentWithdrawn>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const promise = new Promise<ConsentWithdrawn>((resolve) => {
    const check = async () => {
      try {
        const consent = await consentFile(directory).read();
        if (consent === 'pending' || consent === 'denied') return resolve({ consent, sent: 0 });
      } catch (error) {
        if (error instanceof ConsentUnreadableError) return resolve({ consent: 'unreadable', sent: 0 });
        // Not one of reading it (those, EMFILE included, are ConsentUnreadableError and stop the
        // flush above): read again next time.
      }
      if (!stopped) timer = setTimeout(() => void check(), CONSENT_RECHECK_MS);
    };
    timer = setTimeout(() => void check(), CONSENT_RECHECK_MS);
  });
  return {
    promise,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
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

function unexplained(): CommandError {
  return new CommandError(
    'could not deliver every event (no error was reported)',
    'check --host and --key and that the server is reachable; the events stay in the outbox',
  );
}

async function drain(
  outbox: Outbox,
  directory: string,
  resolved: DeliveryOptions,
  timeoutMs: number,
  force: boolean,
  io: CommandIo,
  {
    saveSending,
    signal,
    drops,
  }: { saveSending: boolean; signal: AbortSignal; drops: { overflow: number; corrupt: number } },
): Promise<boolean | 'nothing-claimed' | 'interrupted' | BatchRefusal | ConsentWithdrawn> {
  const ids = resolved.endpoints.map((e) => e.id);
  if (force) for (const id of ids) await outbox.setState(breakerStateKey(id), undefined);
  const before = await outbox.size();
  const progress = new Progress(io, before.events);
  let refused: ((refusal: BatchRefusal) => void) | undefined;
  const requestRefused = new Promise<BatchRefusal>((resolve) => (refused = resolve));
  const platform = createNodePlatform();
  const delivery = new Delivery(outbox, resolved, {
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
      if (name === 'delivery-error') {
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
  const withdrawn = consentWithdrawn(directory);
  delivery.start();
  let result;
  try {
    result = await Promise.race([delivery.flush(timeoutMs), interrupted, requestRefused, withdrawn.promise]);
  } finally {
    withdrawn.stop();
    // Aborts what is in flight: its batch goes back to the queue for the next run.
    await delivery.shutdown(0);
    // flush runs in-process too (tests, programs calling the command): no socket kept alive after it.
    platform.close?.();
    progress.end();
  }
  if (typeof result === 'object' && 'endpoint' in result) return result;
  if (typeof result === 'object' && 'consent' in result) return { ...result, sent: delivery.stats().sent };
  if (result === 'interrupted') {
    const left = await outbox.size();
    io.stdout.write(
      `Interrupted: sent ${delivery.stats().sent} events; ${left.events} still queued, nothing lost.\n`,
    );
    return 'interrupted';
  }
  const stats = delivery.stats();
  io.stdout.write(
    `Sent ${result.sent} events to ${terminalText(ids.join(', '))}; ${Math.max(0, result.pending)} still queued.\n`,
  );
  let failed = false;
  if (drops.corrupt > 0) {
    io.stderr.write(
      `warning: ${drops.corrupt} damaged records (torn or corrupt on disk) were cut from the outbox; they could not be sent\n`,
    );
  }
  if (stats.deadLettered > 0) {
    failed = true;
    const discarded = Math.min(drops.overflow, stats.deadLettered);
    io.stderr.write(
      discarded === 0
        ? `error: ${stats.deadLettered} events were refused for good and moved to the dead letters\n`
        : `error: ${stats.deadLettered} events were refused for good; the dead letters keep the newest ` +
            `(the outbox's maxDeadLetters): ${discarded} of the oldest dead letters were discarded\n`,
    );
    io.stderr.write(`hint: inspect them with: homing dead-letters --outbox ${terminalText(directory)}\n`);
  }
  if (result.pending !== 0) {
    failed = true;
    // Every endpoint's circuit open: the earliest to close says when to come back.
    const openUntil = ids.map((id) => stats.breakers[id]?.openUntilMs ?? null);
    const allOpen = openUntil.every((at) => at !== null && at > Date.now());
    const endpoint = terminalText(ids.join(', '));
    const breaker = allOpen ? { openUntilMs: Math.min(...(openUntil as number[])) } : null;
    if (breaker !== null) {
      // The failures that opened it say what is wrong (a refused connection, a 5xx): name the last.
      const cause = stats.lastError === null ? '' : ` (last error: ${terminalText(stats.lastError.reason)})`;
      io.stderr.write(`error: the circuit for ${endpoint} is open after repeated failures${cause}\n`);
      io.stderr.write(
        force
          ? 'hint: --force tried it now and it failed again: check --host and that the server is reachable; the events stay in the outbox\n'
          : `hint: it will be tried again in ${formatDuration(breaker.openUntilMs - Date.now())}; run this again then, or add --force to try now\n`,
      );
    } else if (result.timedOut) {
      io.stderr.write(`error: timed out after ${formatDuration(timeoutMs)} with events still queued\n`);
      io.stderr.write('hint: run it again, or give more time with --timeout MS; nothing is lost\n');
    } else if (stats.lastError === null) {
      // Nothing failed: nothing could be claimed (another process holds the delivery lock).
      return 'nothing-claimed';
    } else {
      io.stderr.write(
        `error: could not deliver every event (last error: ${terminalText(stats.lastError.reason)})\n`,
      );
      io.stderr.write(
        stats.lastError.endpoint === 'outbox'
          ? // Reading the outbox failed, not sending: the server was never the problem.
            `hint: check that ${terminalText(directory)} is readable and writable by this user and its disk has room; the events stay in the outbox\n`
          : 'hint: check --host and --key and that the server is reachable; the events stay in the outbox\n',
      );
    }
  }
  return failed;
}

export function registerFlush(program: Command): void {
  program
    .command('flush')
    .description('Send what is queued in an outbox now')
    .requiredOption('--outbox <dir>', 'the outbox directory')
    .option('--destination <name>', 'with --host: homing (default), posthog or segment')
    .option(
      '--host <url>',
      'base URL of the destination, e.g. https://homing.example.com (default: where the app sends, saved in the outbox)',
    )
    .option(
      '--key <key>',
      'with --host: write key (Homing), project API key (PostHog) or write key (Segment)',
    )
    .option('--timeout <ms>', 'give up after this long (events stay queued)', '30000')
    .option('--force', 'try now even if the endpoint circuit is open from earlier failures')
    .action(async (options: FlushOptions) => {
      process.exitCode = await flush(options);
    });
}
