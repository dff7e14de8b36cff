import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedEndpoint } from '../delivery/deliveryOptions.js';
import { SENDING_STATE_KEY } from '../delivery/EndpointChannel.js';
import { unsafeDirectorySync } from '../outbox/file-log/ownDirectory.js';
import { STATE_DIR } from '../outbox/file-log/segmentFiles.js';
import { readStateSync } from '../outbox/file-log/StateFiles.js';
import { defaultOutboxDirectory } from '../platform/cacheDirectory.node.js';
import { consentFile } from './consentFile.node.js';
import { SHARED_DEFAULT_NAME } from './defaultClientName.js';

export interface DefaultDirectory {
  readonly directory: string;
  /**
   * The directory every unnamed client shared before (`<cache>/homing/default`), when it was not
   * this app's: only a denial remembered there is taken from it (`withSharedDenial`).
   */
  readonly shared?: string;
}

/**
 * Where a client the app gave no `name` keeps its outbox: `<cache>/homing/<name>` with the name
 * made from its endpoints (`defaultClientName`). An install upgraded from a version where every
 * such client shared `<cache>/homing/default` keeps using that directory while the endpoint list
 * saved there (`delivery:sending`, written by whichever app delivered last) is this client's:
 * its queued events, install id, identity and consent stay with it. Any other app starts its own
 * directory, new install id included (taking the shared one would keep two vendors' events under
 * one anonymous id), and keeps only a denial remembered there, until it stores a consent of its
 * own: a user who said no must not be asked past.
 */
export function defaultDirectory(
  name: string,
  endpoints: readonly ResolvedEndpoint[],
  cacheDirectory?: string,
): DefaultDirectory {
  const own = defaultOutboxDirectory(name, cacheDirectory);
  if (name === SHARED_DEFAULT_NAME) return { directory: own };
  const shared = defaultOutboxDirectory(SHARED_DEFAULT_NAME, cacheDirectory);
  if (existsSync(own) || !existsSync(shared) || unsafeDirectorySync(shared) !== undefined) {
    return { directory: own };
  }
  if (lastSentTo(shared, endpoints)) return { directory: shared };
  return { directory: own, shared };
}

/** Whether the endpoint list saved in `directory` is exactly `endpoints` (custom ones aside). */
function lastSentTo(directory: string, endpoints: readonly ResolvedEndpoint[]): boolean {
  const saved = readStateSync(path.join(directory, STATE_DIR), SENDING_STATE_KEY) as
    { endpoints?: unknown } | undefined;
  if (saved === undefined || saved === null || !Array.isArray(saved.endpoints)) return false;
  const savedSet = new Set<string>();
  for (const e of saved.endpoints as unknown[]) {
    const { destination, host, key } = (e ?? {}) as Record<string, unknown>;
    if (typeof destination !== 'string' || typeof host !== 'string' || typeof key !== 'string') return false;
    savedSet.add(`${destination}\n${host}\n${key}`);
  }
  const ours = new Set(
    endpoints.filter((e) => e.destination !== 'custom').map((e) => `${e.destination}\n${e.host}\n${e.key}`),
  );
  return ours.size === savedSet.size && [...ours].every((e) => savedSet.has(e));
}

/** Whether `shared` remembers a denial (an unreadable file is not taken for one: it was never this app's). */
export function deniedIn(shared: string): () => boolean {
  return () => {
    try {
      return consentFile(shared).readNow() === 'denied';
    } catch {
      return false;
    }
  };
}
