import type { Logger } from '../../logger.js';
import { DeferredOutbox } from '../DeferredOutbox.js';
import { OutboxIoError } from '../errors.js';
import { createMemoryOutbox } from '../memory.js';
import type { Outbox, OutboxLimits } from '../outbox.js';
import { FileOutbox } from './FileOutbox.js';
import { markFileOutbox } from './fileOutboxDirectory.js';
import type { FileOutboxOptions } from './options.js';

/**
 * A file outbox in `options.directory`; options and defaults in `options.ts`, validated here
 * (bad options throw at once). If the directory cannot be used (read-only, not creatable), a
 * warning is logged and a memory outbox with the same limits takes over, so events are still
 * delivered and counted while the process runs, instead of waiting for a disk that never takes
 * them. Its `persist()` rejects (`OutboxIoError` with the directory's error as `cause`): what it
 * holds is not stored, and whoever waits for `persist()` before calling an event safe must hear
 * so (the client names it in `stats().lastError`).
 */
export function createFileOutbox(options: FileOutboxOptions): Outbox {
  const file = new FileOutbox(options);
  let failure: unknown;
  const outbox = new DeferredOutbox(
    () =>
      file.opened().then(
        () => file,
        async (error: unknown) => {
          failure = error;
          await file.close().catch(() => {});
          throw error;
        },
      ),
    () => {
      options.logger?.warn('outbox: the directory cannot be used; events are kept in memory only', {
        directory: file.directory,
        error: String(failure),
      });
      return memoryStandIn(file.limits, options.now, failure, options.logger);
    },
    file,
  );
  return markFileOutbox(outbox, file.directory);
}

/**
 * The memory outbox that stands in for a file outbox that cannot be had (`failure`: why): it
 * delivers and counts as any outbox, but its `persist()` rejects, since nothing is stored.
 */
export function memoryStandIn(
  limits: Partial<OutboxLimits> | undefined,
  now: (() => number) | undefined,
  failure: unknown,
  logger?: Logger,
): Outbox {
  const memory = createMemoryOutbox({
    ...limits,
    ...(now === undefined ? {} : { now }),
    ...(logger === undefined ? {} : { logger }),
  });
  memory.persist = () =>
    Promise.reject(new OutboxIoError('persist (events are kept in memory only)', { cause: failure }));
  return memory;
}
