import { existsSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../outbox/file-log/atomicFile.js';
import { STATE_DIR } from '../outbox/file-log/segmentFiles.js';
import { readStateSync } from '../outbox/file-log/StateFiles.js';
import { IDENTITY_FILE, identityFile } from './identityFile.node.js';
import { IDENTITY_STATE_KEY, isKeptIdentity, type IdentityStore } from './identityStore.js';
import { INSTALL_ID_STATE_KEY, isInstallId, type InstallIdStore } from './installId.js';
import { INSTALL_ID_FILE, installIdFile } from './installIdFile.node.js';

/**
 * The install id and the identity of a file outbox's directory, in files beside its segments,
 * read synchronously: events tracked right after `createTelemetry` are built at once, and are on
 * disk if the process ends in that same turn (`process.exit()`). `storage: 'file'` keeps them
 * here, and so does a file outbox the app made itself and passed as `storage`; before, that one
 * kept them in its state, read asynchronously, and anonymous events tracked in the turn the
 * process ended in were lost while they waited for the id.
 *
 * Ids an earlier version kept in that state are taken over once, when the directory has no
 * install-id file yet, so the app's anonymous users keep their id.
 */
export function keptIdsBeside(directory: string): { installId: InstallIdStore; identity: IdentityStore } {
  const installId = installIdFile(directory, takeOverStateIds(directory));
  return { installId, identity: identityFile(directory) };
}

/** The install id kept in the outbox state, if the directory has no install-id file yet (its identity copied beside). */
function takeOverStateIds(directory: string): string | undefined {
  try {
    if (existsSync(path.join(directory, INSTALL_ID_FILE))) return undefined;
    const stateDir = path.join(directory, STATE_DIR);
    const id = readStateSync(stateDir, INSTALL_ID_STATE_KEY);
    if (!isInstallId(id)) return undefined;
    const identity = readStateSync(stateDir, IDENTITY_STATE_KEY);
    const identityPath = path.join(directory, IDENTITY_FILE);
    if (isKeptIdentity(identity) && !existsSync(identityPath)) {
      writeFileAtomicSync(identityPath, `${identity}\n`, { fsync: false });
    }
    return id;
  } catch {
    // Best effort: without it this run makes a new install id, as a first run does.
    return undefined;
  }
}
