import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedEndpoint } from '../delivery/deliveryOptions.js';
import { SENDING_STATE_KEY } from '../delivery/EndpointChannel.js';
import { unsafeDirectorySync } from '../outbox/file-log/ownDirectory.js';
import { parseSegmentFileName, STATE_DIR } from '../outbox/file-log/segmentFiles.js';
import { readStateSync } from '../outbox/file-log/StateFiles.js';
import { defaultOutboxDirectory } from '../platform/cacheDirectory.node.js';
import { consentFile } from './consentFile.node.js';
import { endpointIdentity } from '../delivery/endpointIdentity.js';
import { SHARED_DEFAULT_NAME } from './defaultClientName.js';

export interface DefaultDirectory {
  readonly directory: string;
  /**
   * Directories of earlier unnamed clients of this user (`<cache>/homing/default` and
   * `default-<hash>`), when this one is new: a denial remembered in any of them is taken as this
   * client's (`withSharedDenial`).
   */
  readonly denialFrom?: readonly string[];
  /**
   * The directory unnamed clients shared before, when this client is new and does not take it
   * over but it holds segments (queued events, perhaps this app's, from a version that saved no
   * endpoint list there): the caller says so, as nothing else would.
   */
  readonly passedOver?: string;
}

/** A directory an unnamed client used: the shared one of earlier versions, or one per endpoint set. */
const UNNAMED_DIRECTORY = /^default(?:-[0-9a-f]{16})?$/;

/**
 * Where a client the app gave no `name` keeps its outbox: `<cache>/homing/<name>` with the name
 * made from its endpoints (`defaultClientName`). An install upgraded from a version where every
 * such client shared `<cache>/homing/default` keeps using that directory while the endpoint list
 * saved there (`delivery:sending`, written by whichever app delivered last) is this client's:
 * its queued events, install id, identity and consent stay with it. Any other new directory
 * starts its own queue and install id (taking another's would keep two vendors' events under
 * one anonymous id), and takes a denial remembered in any directory of an earlier unnamed client
 * (the shared one, or one an earlier endpoint list of the same app named: a rotated key, a new
 * host), until it stores a consent of its own: a user who said no must not be asked past. What
 * is queued there is not taken over (it may be another app's).
 */
export function defaultDirectory(
  name: string,
  endpoints: readonly ResolvedEndpoint[],
  cacheDirectory?: string,
): DefaultDirectory {
  const own = defaultOutboxDirectory(name, cacheDirectory);
  if (name === SHARED_DEFAULT_NAME || existsSync(own)) return { directory: own };
  const shared = defaultOutboxDirectory(SHARED_DEFAULT_NAME, cacheDirectory);
  const sharedExists = existsSync(shared);
  if (sharedExists && unsafeDirectorySync(shared) === undefined && lastSentTo(shared, endpoints)) {
    return { directory: shared };
  }
  return {
    directory: own,
    denialFrom: unnamedSiblings(path.dirname(own), path.basename(own)),
    ...(sharedExists && holdsSegments(shared) ? { passedOver: shared } : {}),
  };
}

/** Whether `directory` holds any segment file (queued events, unless all are acknowledged). */
function holdsSegments(directory: string): boolean {
  try {
    return readdirSync(directory).some((n) => parseSegmentFileName(n) !== null);
  } catch {
    return false;
  }
}

/** The directories of other unnamed clients beside `self` in `parent`. */
function unnamedSiblings(parent: string, self: string): string[] {
  try {
    return readdirSync(parent)
      .filter((n) => n !== self && UNNAMED_DIRECTORY.test(n))
      .map((n) => path.join(parent, n));
  } catch {
    return [];
  }
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
    savedSet.add(endpointIdentity({ destination, host, key }));
  }
  const ours = new Set(endpoints.filter((e) => e.destination !== 'custom').map(endpointIdentity));
  return ours.size === savedSet.size && [...ours].every((e) => savedSet.has(e));
}

/**
 * Whether any of `directories` remembers a denial (wherever it is read, as a denial counts in a
 * directory another account can write in; an unreadable file is not taken for one).
 */
export function deniedIn(directories: readonly string[]): () => boolean {
  return () =>
    directories.some((d) => {
      try {
        return consentFile(d).readNow() === 'denied';
      } catch {
        return false;
      }
    });
}
