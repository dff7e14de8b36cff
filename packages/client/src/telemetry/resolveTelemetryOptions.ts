import { describeValue } from '../describeValue.js';
import { MAX_DELAY_MS } from '../maxDelay.js';
import type { Logger } from '../logger.js';
import { DEFAULT_OUTBOX_LIMITS, integerProblem } from '../outbox/limits.js';
import type { Outbox, OutboxDurability, OutboxLimits } from '../outbox/outbox.js';
import { OUTBOX_TUNING_RANGES, type NumericTuningKey } from '../outbox/tuning.js';
import type { SafeLimits } from '../pipeline/safeSerialize.js';
import { defaultSafeLimits } from '../pipeline/safeSerialize.js';
import type { Platform } from '../platform/platform.js';
import { checkClock } from './clockCheck.js';
import { distinctIdProblem } from './distinctIdProblem.js';
import { TelemetryOptionError } from './errors.js';
import type {
  BeforeSend,
  ConsentState,
  OutboxTuning,
  RedactionOptions,
  StorageChoice,
  TelemetryOptions,
} from './options.js';
import { OUTBOX_TUNING_KEYS, TELEMETRY_DEFAULTS } from './options.js';

export interface ResolvedTelemetryOptions {
  readonly name: string;
  readonly distinctId: string | undefined;
  readonly superProperties: Record<string, unknown>;
  readonly consent: ConsentState;
  readonly rememberConsent: boolean;
  readonly sessionIdleMs: number;
  readonly redaction: RedactionOptions | false;
  readonly beforeSend: BeforeSend | undefined;
  /** undefined: the platform's default. */
  readonly storage: StorageChoice | Outbox | undefined;
  readonly directory: string | undefined;
  readonly durability: OutboxDurability;
  readonly limits: Partial<OutboxLimits> | undefined;
  readonly outbox: OutboxTuning | undefined;
  readonly propertyLimits: SafeLimits;
  readonly maxEventBytes: number;
  readonly disabled: boolean;
  readonly respectDoNotTrack: boolean;
  readonly logger: Logger | undefined;
  readonly platform: Platform | undefined;
  readonly now: () => number;
}

const KNOWN = new Set<string>([
  'endpoints',
  'errors',
  'performance',
  'usage',
  'health',
  'deliveryReport',
  'delivery',
  'name',
  'distinctId',
  'superProperties',
  'consent',
  'rememberConsent',
  'sessionIdleMs',
  'sampling',
  'redaction',
  'beforeSend',
  'storage',
  'directory',
  'durability',
  'limits',
  'outbox',
  'propertyLimits',
  'maxEventBytes',
  'disabled',
  'respectDoNotTrack',
  'logger',
  'platform',
  'now',
]);
const STORAGES: readonly StorageChoice[] = ['file', 'indexeddb', 'localStorage', 'memory'];
const CONSENTS: readonly ConsentState[] = ['granted', 'denied', 'pending'];

/**
 * Merges `TELEMETRY_DEFAULTS` once (with `??`, so 0 and false stay) and validates the client's
 * own options; delivery, sampling and outbox options are validated by their own resolvers when
 * the client builds those parts, with errors that name the option as well.
 */
export function resolveTelemetryOptions(input: TelemetryOptions): ResolvedTelemetryOptions {
  plainObject('options', input);
  const o: TelemetryOptions = input;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw new TelemetryOptionError(key, 'is not a known option');
  }
  const d = TELEMETRY_DEFAULTS;
  const name = o.name ?? d.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 100) {
    throw new TelemetryOptionError(
      'name',
      `must be a string of 1 to 100 characters, got ${describeValue(name)}`,
    );
  }
  // Only a missing consent is the default: null is refused, not taken for 'granted' (an app
  // passing a stored choice not made yet, `consent: stored`, would send without one).
  const consent = o.consent === undefined ? d.consent : o.consent;
  if (!CONSENTS.includes(consent)) {
    throw new TelemetryOptionError(
      'consent',
      `must be 'granted', 'denied' or 'pending', got ${describeValue(consent)}` +
        (consent === null ? " (while the user has not chosen, pass 'pending')" : ''),
    );
  }
  const storage = o.storage;
  if (storage !== undefined && !STORAGES.includes(storage as StorageChoice) && !isOutbox(storage)) {
    throw new TelemetryOptionError(
      'storage',
      `must be 'file', 'indexeddb', 'localStorage', 'memory' or an Outbox, got ${describeValue(storage)}`,
    );
  }
  const durability = o.durability ?? d.durability;
  if (durability !== 'batch' && durability !== 'fsync' && durability !== 'memory') {
    throw new TelemetryOptionError(
      'durability',
      `must be 'batch', 'fsync' or 'memory', got ${describeValue(durability)}`,
    );
  }
  if (o.directory !== undefined && (typeof o.directory !== 'string' || o.directory.length === 0)) {
    throw new TelemetryOptionError(
      'directory',
      `must be a non-empty path, got ${describeValue(o.directory)}`,
    );
  }
  if (o.limits !== undefined) {
    knownKeys('limits', plainObject('limits', o.limits), Object.keys(DEFAULT_OUTBOX_LIMITS));
    // Only an outbox the client creates is given them: with the app's own they bounded nothing.
    if (isOutbox(storage)) {
      throw new TelemetryOptionError(
        'limits',
        'bounds the outbox `storage` creates; with an Outbox as `storage`, give the limits to that Outbox (createFileOutbox({ maxEvents, ... })) instead',
      );
    }
  }
  const outbox = outboxTuning(o.outbox, storage);
  if (o.delivery !== undefined && plainObject('delivery', o.delivery)['endpoints'] !== undefined) {
    // The delivery resolver takes the top-level list; one given here was silently not used.
    throw new TelemetryOptionError(
      'delivery.endpoints',
      'endpoints are a top-level option: createTelemetry({ endpoints: [...], delivery: { ... } })',
    );
  }
  if (o.sampling !== undefined) plainObject('sampling', o.sampling);
  if (o.endpoints !== undefined && !Array.isArray(o.endpoints)) {
    throw new TelemetryOptionError(
      'endpoints',
      `must be an array of endpoint configs, got ${describeValue(o.endpoints)}`,
    );
  }
  return {
    name,
    distinctId: distinctId(o.distinctId),
    superProperties: o.superProperties === undefined ? {} : plainObject('superProperties', o.superProperties),
    consent,
    rememberConsent: bool('rememberConsent', o.rememberConsent ?? d.rememberConsent),
    sessionIdleMs: integer('sessionIdleMs', o.sessionIdleMs ?? d.sessionIdleMs, 0, MAX_DELAY_MS),
    redaction: redaction(o.redaction),
    beforeSend: optionalFunction('beforeSend', o.beforeSend),
    storage,
    directory: o.directory,
    durability,
    limits: o.limits,
    outbox,
    propertyLimits: propertyLimits(o.propertyLimits),
    maxEventBytes: integer('maxEventBytes', o.maxEventBytes ?? d.maxEventBytes, 64, 1024 ** 3),
    disabled: bool('disabled', o.disabled ?? d.disabled),
    respectDoNotTrack: bool('respectDoNotTrack', o.respectDoNotTrack ?? d.respectDoNotTrack),
    logger: logger(o.logger),
    platform: platform(o.platform),
    now: clock(o.now),
  };
}

/** The `now` option, asked once (see `checkClock`); `Date.now` when not given. */
function clock(value: (() => number) | undefined): () => number {
  const now = optionalFunction('now', value);
  if (now === undefined) return Date.now;
  checkClock(now);
  return now;
}

/** A distinct id as `identify` and the `distinctId` option accept it. */
export function checkDistinctId(option: string, value: unknown): string {
  const problem = distinctIdProblem(value);
  if (problem !== undefined) throw new TelemetryOptionError(option, problem);
  return (value as string).trim();
}

/** `flush`/`shutdown`'s `{ timeoutMs }`; the default when missing. */
export function checkTimeout(options: unknown): number {
  if (options === undefined) return TELEMETRY_DEFAULTS.timeoutMs;
  const o = plainObject('options', options);
  const t = o.timeoutMs ?? TELEMETRY_DEFAULTS.timeoutMs;
  return integer('timeoutMs', t, 0, MAX_DELAY_MS);
}

export function isOutbox(value: unknown): value is Outbox {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return ['append', 'claim', 'ack', 'release', 'persist', 'getState', 'setState', 'close'].every(
    (m) => typeof v[m] === 'function',
  );
}

function distinctId(value: unknown): string | undefined {
  return value === undefined ? undefined : checkDistinctId('distinctId', value);
}

function redaction(value: unknown): RedactionOptions | false {
  if (value === false) return false;
  if (value === undefined) return {};
  const r = plainObject('redaction', value) as RedactionOptions;
  onlyKeys('redaction', r, ['fields', 'patterns', 'hashKey', 'custom']);
  if (r.fields !== undefined && r.fields !== false) {
    if (!Array.isArray(r.fields) || !r.fields.every((f) => typeof f === 'string')) {
      throw new TelemetryOptionError('redaction.fields', 'must be an array of field names or false');
    }
  }
  if (r.patterns !== undefined && r.patterns !== false) plainObject('redaction.patterns', r.patterns);
  if (r.hashKey !== undefined && (typeof r.hashKey !== 'string' || r.hashKey.length === 0)) {
    throw new TelemetryOptionError('redaction.hashKey', 'must be a non-empty string');
  }
  optionalFunction('redaction.custom', r.custom);
  return r;
}

function propertyLimits(value: unknown): SafeLimits {
  if (value === undefined) return defaultSafeLimits;
  const p = plainObject('propertyLimits', value) as Partial<SafeLimits>;
  onlyKeys('propertyLimits', p, ['maxDepth', 'maxStringLength', 'maxProperties']);
  const d = defaultSafeLimits;
  return {
    maxDepth: integer('propertyLimits.maxDepth', p.maxDepth ?? d.maxDepth, 1, 100),
    maxStringLength: integer(
      'propertyLimits.maxStringLength',
      p.maxStringLength ?? d.maxStringLength,
      0,
      1024 ** 3,
    ),
    maxProperties: integer('propertyLimits.maxProperties', p.maxProperties ?? d.maxProperties, 0, 1_000_000),
  };
}

function logger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  const l = value as Partial<Logger>;
  if (
    l === null ||
    typeof l !== 'object' ||
    typeof l.debug !== 'function' ||
    typeof l.warn !== 'function' ||
    typeof l.error !== 'function'
  ) {
    throw new TelemetryOptionError('logger', 'must have debug, warn and error methods');
  }
  return l as Logger;
}

function platform(value: unknown): Platform | undefined {
  if (value === undefined) return undefined;
  const p = value as Partial<Platform>;
  if (
    p === null ||
    typeof p !== 'object' ||
    typeof p.env !== 'function' ||
    typeof p.createDefaultOutbox !== 'function'
  ) {
    throw new TelemetryOptionError(
      'platform',
      'must be a Platform (createNodePlatform(), createBrowserPlatform(), ...)',
    );
  }
  return p as Platform;
}

function plainObject(option: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TelemetryOptionError(option, `must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

function integer(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TelemetryOptionError(
      option,
      `must be an integer from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function bool(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TelemetryOptionError(option, `must be true or false, got ${describeValue(value)}`);
  return value;
}

function optionalFunction<F>(option: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new TelemetryOptionError(option, `must be a function, got ${describeValue(value)}`);
  }
  return value;
}

/** A misspelt key (`redaction.feilds`) would otherwise be ignored without a word. */
function onlyKeys(option: string, value: object, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new TelemetryOptionError(`${option}.${key}`, `is not a known option (${keys.join(', ')})`);
    }
  }
}

/** The `outbox` tuning: known keys only (their values are the outbox's to check), and no Outbox given. */
function outboxTuning(value: unknown, storage: unknown): OutboxTuning | undefined {
  if (value === undefined) return undefined;
  const tuning = plainObject('outbox', value);
  if (isOutbox(storage)) {
    throw new TelemetryOptionError(
      'outbox',
      'tunes the outbox `storage` creates; with an Outbox as `storage`, configure that Outbox instead',
    );
  }
  for (const [key, v] of Object.entries(tuning)) {
    if (!(OUTBOX_TUNING_KEYS as readonly string[]).includes(key)) {
      throw new TelemetryOptionError(
        `outbox.${key}`,
        `is not an outbox option (known: ${OUTBOX_TUNING_KEYS.join(', ')})`,
      );
    }
    // Checked whichever storage is chosen: the outbox that uses a key checks it again, and
    // one that does not would otherwise take a wrong value without a word.
    if (v === undefined) continue;
    let problem: string | undefined;
    if (key === 'flushOnHide') {
      if (typeof v !== 'boolean') problem = `must be a boolean, got ${describeValue(v)}`;
    } else {
      const [min, max] = OUTBOX_TUNING_RANGES[key as NumericTuningKey];
      problem = integerProblem(v, min, max);
    }
    if (problem !== undefined) throw new TelemetryOptionError(`outbox.${key}`, problem);
  }
  return tuning as OutboxTuning;
}

/** A misspelt key (`maxevents`) would leave the default in force without a word: refused by name. */
function knownKeys(option: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TelemetryOptionError(
        `${option}.${key}`,
        `is not a known option (known: ${known.join(', ')})`,
      );
    }
  }
}
