import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import { DeferredOutbox } from '../DeferredOutbox.js';
import { MemoryStandIn } from '../MemoryStandIn.js';
import type { Outbox, OutboxLimits } from '../outbox.js';
import { RecoveringOutbox } from '../RecoveringOutbox.js';
import { FileOutbox } from './FileOutbox.js';
import { markFileOutbox } from './fileOutboxDirectory.js';
import type { FileOutboxOptions } from './options.js';

/**
 * A file outbox in `options.directory`; options and defaults in `options.ts`, validated here
 * (bad options throw at once). If the directory cannot be used (read-only, not creatable), a
 * warning is logged and a memory outbox with the same limits takes over, so events are still
 * delivered and counted, instead of waiting for a disk that may never take them. Its `persist()`
 * rejects (`OutboxIoError` with the directory's error as `cause`): what it holds is not stored,
 * and whoever waits for `persist()` before calling an event safe must hear so (the client names
 * it in `stats().lastError`). Meanwhile the directory is tried again, with backoff, and once it
 * can be used the file outbox takes over, with what memory held (`RecoveringOutbox`).
 */
export function createFileOutbox(options: FileOutboxOptions): Outbox {
  const file = new FileOutbox(options);
  const logger = options.logger ?? silentLogger;
  let failure: unknown;
  const outbox = new DeferredOutbox(
    () =>
      openedFileOutbox(file).catch((error: unknown) => {
        failure = error;
        throw error;
      }),
    () => {
      logger.warn('outbox: the directory cannot be used; events are kept in memory only until it can', {
        directory: file.directory,
        error: String(failure),
      });
      const memory = memoryStandIn(file.limits, options.now, failure, options.logger);
      return new RecoveringOutbox({
        memory,
        open: () => openedFileOutbox(new FileOutbox(options)),
        logger,
        directory: file.directory,
      });
    },
    file,
  );
  return markFileOutbox(outbox, file.directory);
}

/** `file` once its directory is there and writable; closed, and the error rethrown, when not. */
export function openedFileOutbox(file: FileOutbox): Promise<FileOutbox> {
  return file.opened().then(
    () => file,
    async (error: unknown) => {
      await file.close().catch(() => {});
      throw error;
    },
  );
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
): MemoryStandIn {
  return new MemoryStandIn(
    {
      ...limits,
      ...(now === undefined ? {} : { now }),
      ...(logger === undefined ? {} : { logger }),
    },
    failure,
  );
}
