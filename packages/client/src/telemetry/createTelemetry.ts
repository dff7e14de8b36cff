import { resolveDeliveryOptions } from '../delivery/deliveryOptions.js';
import { consoleLogger, silentLogger } from '../logger.js';
import { resolveOutboxLimits } from '../outbox/limits.js';
import { Sampler } from '../pipeline/sampling.js';
import type { TelemetryClient } from './client.js';
import { disabledBy, envFlag } from './environment.js';
import { createNoopTelemetry } from './noopTelemetry.js';
import type { TelemetryOptions } from './options.js';
import { isOutbox, resolveTelemetryOptions } from './resolveTelemetryOptions.js';
import type { TelemetryRuntime } from './runtime.js';
import { Telemetry } from './Telemetry.js';

/**
 * `createTelemetry` bound to a runtime (Node or browser/default, see `runtime.ts`). Validates
 * every option once and throws a typed error naming the first bad one; after that nothing the
 * client does throws into the app. With `DO_NOT_TRACK=1`, `HOMING_DISABLED=1` or
 * `disabled: true` it answers the no-op client without opening any storage.
 */
export function createTelemetryWith(runtime: TelemetryRuntime, input: TelemetryOptions): TelemetryClient {
  const options = resolveTelemetryOptions(input);
  const platform = options.platform ?? runtime.defaultPlatform();
  const logger = options.logger ?? (envFlag(platform, 'HOMING_DEBUG') ? consoleLogger() : silentLogger);
  // Validated even when disabled, so a bad config is found on the developer's machine too.
  const delivery = resolveDeliveryOptions({ ...input.delivery, endpoints: input.endpoints });
  new Sampler(input.sampling ?? {});
  if (options.limits !== undefined) resolveOutboxLimits(options.limits, 'limits.');
  const off = disabledBy(platform, options);
  if (off !== null) {
    logger.debug(`telemetry is off (${off})`);
    return createNoopTelemetry(logger, options.now);
  }
  const given = isOutbox(options.storage) ? options.storage : undefined;
  const storage =
    given !== undefined
      ? { outbox: given }
      : runtime.createStorage({
          choice:
            (options.storage as Exclude<typeof options.storage, object>) ?? runtime.defaultStorage(platform),
          name: options.name,
          directory: options.directory,
          durability: options.durability,
          limits: options.limits,
          logger,
        });
  try {
    return new Telemetry({
      options,
      sampling: input.sampling,
      platform,
      logger,
      outbox: storage.outbox,
      ownsOutbox: given === undefined,
      installId: 'installId' in storage ? storage.installId : undefined,
      delivery,
    });
  } catch (error) {
    if (given === undefined) void storage.outbox.close().catch(() => undefined);
    throw error;
  }
}
