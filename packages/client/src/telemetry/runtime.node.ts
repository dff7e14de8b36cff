import { createMemoryOutbox } from '../outbox/memory.js';
import { fileOutboxDirectory } from '../outbox/file-log/fileOutboxDirectory.js';
import { memoryStandIn } from '../outbox/file-log/createFileOutbox.js';
import { createFileOutbox } from '../outbox/node.js';
import { defaultOutboxDirectory, NoCacheDirectoryError } from '../platform/cacheDirectory.node.js';
import { detectPlatform } from '../platform/detect.js';
import { TelemetryOptionError } from './errors.js';
import { consentFile } from './consentFile.node.js';
import { keptIdsBeside } from './keptIdsBeside.node.js';
import { pickTuning } from './pickTuning.js';
import { defaultDirectory, deniedIn } from './sharedDefaultDirectory.node.js';
import { withSharedDenial } from './sharedDenial.js';
import type { TelemetryRuntime } from './runtime.js';
import { shellQuoted } from './shellQuoted.js';

/**
 * Node: the platform from `detectPlatform`, a file outbox in the user's cache directory by
 * default (`<cache>/homing/<name>`, or the directory unnamed clients shared before: see
 * `defaultDirectory`), the install id and the identity in files beside its segments.
 */
export const nodeRuntime: TelemetryRuntime = {
  defaultPlatform: detectPlatform,
  defaultStorage: (platform) => (platform.name === 'node' ? 'file' : 'memory'),
  createStorage(request) {
    switch (request.choice) {
      case 'file': {
        let directory = request.directory;
        let denialFrom: readonly string[] = [];
        try {
          if (directory === undefined) {
            const chosen = request.nameGiven
              ? { directory: defaultOutboxDirectory(request.name) }
              : defaultDirectory(request.name, request.endpoints);
            directory = chosen.directory;
            denialFrom = chosen.denialFrom ?? [];
            if (chosen.passedOver !== undefined) {
              request.logger.warn(
                `outbox: ${chosen.passedOver}, which unnamed clients of earlier versions shared, holds queued events and is not taken over: it does not name this client's endpoints (versions before December 4, 2026 saved none there). This client keeps its own outbox (${directory}) and install id. If those events are this app's, send them with: homing flush --outbox ${shellQuoted(chosen.passedOver)} --host <url> --key <key>`,
              );
            }
          }
        } catch (error) {
          if (!(error instanceof NoCacheDirectoryError)) throw error;
          // As for a cache directory that cannot be written (`createFileOutbox`): events still
          // flow, kept in memory, and persist() says they are not stored.
          request.logger.warn('outbox: no cache directory; events are kept in memory only', {
            error: String(error),
          });
          return { outbox: memoryStandIn(request.limits, request.now, error, request.logger) };
        }
        const t = request.tuning ?? {};
        const outbox = createFileOutbox({
          ...request.limits,
          ...pickTuning(t, ['persistIntervalMs', 'flushEvents', 'flushBytes', 'maxSegmentBytes']),
          ...pickTuning(t, ['heartbeatMs', 'staleMs', 'claimCacheBytes']),
          directory,
          durability: request.durability,
          logger: request.logger,
          now: request.now,
        });
        const kept = keptBeside(directory);
        if (denialFrom.length === 0) return { outbox, ...kept };
        return {
          outbox,
          ...kept,
          ...withSharedDenial(kept.consentStore, kept.identity, deniedIn(denialFrom)),
        };
      }
      case 'memory':
        return {
          outbox: createMemoryOutbox({ ...request.limits, now: request.now, logger: request.logger }),
        };
      case 'indexeddb':
      case 'localStorage':
        // Node has neither; an app that brings its own (fake-indexeddb, a polyfill) passes an Outbox.
        throw new TelemetryOptionError(
          'storage',
          `'${request.choice}' is not available on Node: use 'file', 'memory' or an Outbox`,
        );
    }
  },
  idsFor(outbox) {
    const directory = fileOutboxDirectory(outbox);
    return directory === undefined ? {} : keptBeside(directory);
  },
};

/** The ids and the remembered consent of a file outbox's directory, read there directly. */
function keptBeside(directory: string) {
  return { ...keptIdsBeside(directory), consentStore: consentFile(directory) };
}
