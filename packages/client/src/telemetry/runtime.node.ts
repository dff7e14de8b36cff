import { createMemoryOutbox } from '../outbox/memory.js';
import { fileOutboxDirectory } from '../outbox/file-log/fileOutboxDirectory.js';
import { createFileOutbox } from '../outbox/node.js';
import { defaultOutboxDirectory } from '../platform/cacheDirectory.node.js';
import { detectPlatform } from '../platform/detect.js';
import { TelemetryOptionError } from './errors.js';
import { keptIdsBeside } from './keptIdsBeside.node.js';
import { pickTuning } from './pickTuning.js';
import type { TelemetryRuntime } from './runtime.js';

/**
 * Node: the platform from `detectPlatform`, a file outbox in the user's cache directory by
 * default (`<cache>/homing/<name>`), the install id and the identity in files beside its segments.
 */
export const nodeRuntime: TelemetryRuntime = {
  defaultPlatform: detectPlatform,
  defaultStorage: (platform) => (platform.name === 'node' ? 'file' : 'memory'),
  createStorage(request) {
    switch (request.choice) {
      case 'file': {
        const directory = request.directory ?? defaultOutboxDirectory(request.name);
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
        return { outbox, ...keptIdsBeside(directory) };
      }
      case 'memory':
        return { outbox: createMemoryOutbox({ ...request.limits, now: request.now }) };
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
    return directory === undefined ? {} : keptIdsBeside(directory);
  },
};
