import { resolveDeliveryOptions } from '../delivery/deliveryOptions.js';
import { DeliveryBusyError } from '../delivery/errors.js';
import { consoleLogger, guardedLogger, silentLogger } from '../logger.js';
import { OutboxOptionError } from '../outbox/errors.js';
import { resolveOutboxLimits } from '../outbox/limits.js';
import { resolvePatternRedactionOptions } from '../pipeline/redactPatterns.options.js';
import { Sampler } from '../pipeline/sampling.js';
import type { TelemetryClient, TelemetryCore } from './client.js';
import { disabledBy, envFlag } from './environment.js';
import { saneClock } from './clockCheck.js';
import { createFeatureSet } from './features.js';
import { createNoopTelemetry } from './noopTelemetry.js';
import { defaultClientName } from './defaultClientName.js';
import { TelemetryOptionError } from './errors.js';
import { featureOptionError } from './featureOptionError.js';
import type { TelemetryOptions } from './options.js';
import { OUTBOX_TUNING_KEYS } from './options.js';
import { checkTimeout, isOutbox, resolveTelemetryOptions } from './resolveTelemetryOptions.js';
import type { CreatedStorage, StorageRequest, TelemetryRuntime } from './runtime.js';
import { Telemetry } from './Telemetry.js';

/**
 * `createTelemetry` bound to a runtime (Node or browser/default, see `runtime.ts`). Validates
 * every option once and throws a typed error naming the first bad one; after that nothing the
 * client does throws into the app. With `DO_NOT_TRACK=1`, `HOMING_DISABLED=1` or
 * `disabled: true` it answers the no-op client without opening any storage.
 */
export function createTelemetryWith(runtime: TelemetryRuntime, input: TelemetryOptions): TelemetryClient {
  const resolved = resolveTelemetryOptions(input);
  const platform = resolved.platform ?? runtime.defaultPlatform();
  const logger = guardedLogger(
    resolved.logger ?? (envFlag(platform, 'HOMING_DEBUG') ? consoleLogger() : silentLogger),
  );
  const options = input.now === undefined ? resolved : { ...resolved, now: saneClock(resolved.now, logger) };
  // Validated even when disabled, so a bad config is found on the developer's machine too.
  const delivery = resolveDeliveryOptions({ ...input.delivery, endpoints: input.endpoints }, platform.name);
  new Sampler(input.sampling ?? {});
  if (options.limits !== undefined) resolveOutboxLimits(options.limits, 'limits.');
  const off = disabledBy(platform, options);
  if (off !== null) {
    logger.debug(`telemetry is off (${off})`);
    try {
      // Not built when off (nothing is redacted), but a bad pattern option is found here too.
      if (
        options.redaction !== false &&
        options.redaction.patterns !== undefined &&
        options.redaction.patterns !== false
      )
        resolvePatternRedactionOptions(options.redaction.patterns);
      return withFeatures(createNoopTelemetry(logger, options.now), input, false);
    } catch (error) {
      throw featureOptionError(error) ?? error;
    }
  }
  const given = isOutbox(options.storage) ? options.storage : undefined;
  const storage =
    given !== undefined
      ? { outbox: given, ...runtime.idsFor?.(given) }
      : createStorage(runtime, {
          choice:
            (options.storage as Exclude<typeof options.storage, object>) ?? runtime.defaultStorage(platform),
          name: input.name === undefined ? defaultClientName(delivery.endpoints) : options.name,
          nameGiven: input.name !== undefined,
          endpoints: delivery.endpoints,
          directory: options.directory,
          durability: options.durability,
          limits: options.limits,
          tuning: options.outbox,
          logger,
          now: options.now,
        });
  // Registered before the client's own exit hooks, so metric summaries and duplicate counts are
  // in the pipeline before it stores what was tracked: at `beforeExit`, and at `exit` for a
  // process that skips it (`process.exit()`, a crash), whose `exit` hook writes them
  // synchronously. Only at `beforeExit`, such a process lost every summary of its last interval.
  let flushFeatures = (_processEnding: boolean): void => {};
  const offBeforeExit = platform.onExit(() => flushFeatures(false));
  const offExitNow = platform.onExitNow?.(() => flushFeatures(true));
  const offExit = (): void => {
    offBeforeExit();
    offExitNow?.();
  };
  let core: Telemetry | undefined;
  try {
    core = new Telemetry({
      options,
      sampling: input.sampling,
      platform,
      ownsPlatform: resolved.platform === undefined,
      logger,
      outbox: storage.outbox,
      ownsOutbox: given === undefined,
      installId: 'installId' in storage ? storage.installId : undefined,
      identity: 'identity' in storage ? storage.identity : undefined,
      session: 'session' in storage ? storage.session : undefined,
      consentStore: 'consentStore' in storage ? storage.consentStore : undefined,
      delivery,
    });
    const client = withFeatures(core, input, true, offExit);
    flushFeatures = (processEnding) => client.flushFeatures(processEnding);
    return client;
  } catch (error) {
    // A bad feature option: the core already runs (delivery loop, exit hooks); nothing may be left.
    offExit();
    if (core !== undefined) void core.shutdown({ timeoutMs: 0 }).catch(() => undefined);
    else if (given === undefined) void storage.outbox.close().catch(() => undefined);
    const named = featureOptionError(error);
    if (named !== undefined) throw named;
    if (error instanceof DeliveryBusyError) {
      // Two clients would each send, count and clear the same queue: the app's mistake, named as an option.
      throw new TelemetryOptionError(
        'storage',
        'this Outbox is already used by another client in this process; shut that client down first, or give each client its own Outbox',
      );
    }
    throw error;
  }
}

const BOUND_CORE_METHODS = [
  'track',
  'identify',
  'reset',
  'register',
  'unregister',
  'setConsent',
  'persist',
  'flush',
  'stats',
  'on',
  'featureHost',
] as const satisfies readonly Exclude<keyof TelemetryCore, 'shutdown'>[];

/** The core client with the feature calls on it; shutdown closes the features first. */
function withFeatures(
  core: TelemetryCore,
  input: TelemetryOptions,
  eager: boolean,
  offExit: () => void = () => {},
): TelemetryClient & { flushFeatures(processEnding: boolean): void } {
  const features = createFeatureSet(core.featureHost(), input, () => core.stats(), eager);
  const shutdown = core.shutdown.bind(core);
  // Own properties copied onto the core object keep `this` intact for its methods.
  const client = Object.assign(core, {
    flushFeatures: (processEnding: boolean) => features.flush(processEnding),
    async shutdown(options?: { timeoutMs?: number }): Promise<void> {
      // A bad timeout is refused before anything stops (it would reject with the features closed).
      checkTimeout(options);
      offExit();
      await features.close();
      await shutdown(options);
    },
  });
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(features.api))) {
    Object.defineProperty(client, key, { ...descriptor, enumerable: false, configurable: true });
  }
  // Bound, so a method taken off the client works as the feature calls and the no-op client's
  // do (`onClick={telemetry.track}`, `const { track } = telemetry`): unbound, `this` was
  // undefined and track() threw, but only where telemetry was on.
  for (const name of BOUND_CORE_METHODS) {
    const method: unknown = core[name];
    if (typeof method !== 'function') continue;
    Object.defineProperty(client, name, {
      value: (method as (...args: unknown[]) => unknown).bind(core),
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }
  return client as unknown as TelemetryClient & { flushFeatures(processEnding: boolean): void };
}

/**
 * The runtime's storage; an outbox's complaint about a tuning option (staleMs under 3 ×
 * heartbeatMs) names it as the app wrote it, `outbox.staleMs`.
 */
function createStorage(runtime: TelemetryRuntime, request: StorageRequest): CreatedStorage {
  try {
    return runtime.createStorage(request);
  } catch (error) {
    if (
      error instanceof OutboxOptionError &&
      (OUTBOX_TUNING_KEYS as readonly string[]).includes(error.option)
    ) {
      throw new TelemetryOptionError(`outbox.${error.option}`, error.reason);
    }
    throw error;
  }
}
