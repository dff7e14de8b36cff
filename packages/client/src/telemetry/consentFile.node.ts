import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from '../outbox/file-log/segmentFiles.js';
import { StateFiles } from '../outbox/file-log/StateFiles.js';
import { CONSENT_STATE_KEY } from './consentStateKey.js';
import { type ConsentStore, describeError, describeValue, isConsentState } from './consentStore.js';
import { ConsentUnreadableError } from './errors.js';
import type { ConsentState } from './options.js';

/** `StateFiles`' name for a plain key (`k-<key>.json`); `consentFile.node.test.ts` holds the two together. */
const CONSENT_FILE = `k-${CONSENT_STATE_KEY}.json`;

export interface ConsentFile extends ConsentStore {
  /** `read`, synchronously (before an install id is made, and at exit); throws when unreadable. */
  readNow(): ConsentState | undefined;
}

/**
 * The remembered consent of a file outbox's directory, read and written there directly, not
 * through the outbox: the same file (`state/k-consent.json`) the outbox's state holds, but still
 * read where the outbox fell back to memory (a read-only directory, no file descriptors at
 * start), whose state knows nothing of a denial remembered on disk. And read strictly: the
 * outbox state takes a damaged file for none, and an empty or half-written file then gave the
 * `consent` option's 'granted' to a user who had opted out.
 *
 * None stored: the file is missing, or the path cannot name one (ENOTDIR: the directory or
 * `state/` is a file, so nothing can be stored there either). Every other failure, and a file
 * that holds no consent state, is unreadable (`ConsentUnreadableError`).
 */
export function consentFile(directory: string): ConsentFile {
  const stateDir = path.join(directory, STATE_DIR);
  const file = path.join(stateDir, CONSENT_FILE);
  const failed = (error: unknown): undefined => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConsentUnreadableError(file, describeError(error), { cause: error });
  };
  const parse = (text: string | undefined): ConsentState | undefined =>
    text === undefined ? undefined : consentIn(text, file);
  // Written as the outbox writes its state (atomically, synced): `homing status` and the outbox read it there.
  const state = new StateFiles(stateDir, { fsync: true });
  return {
    async read() {
      return parse(await fs.readFile(file, 'utf8').catch(failed));
    },
    readNow() {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        text = failed(error);
      }
      return parse(text);
    },
    write: (consent) => state.set(CONSENT_STATE_KEY, JSON.stringify(consent)),
  };
}

function consentIn(text: string, file: string): ConsentState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConsentUnreadableError(file, text.trim() === '' ? 'the file is empty' : 'the file is not JSON');
  }
  const { key, value } = (parsed ?? {}) as { key?: unknown; value?: unknown };
  if (key === CONSENT_STATE_KEY && isConsentState(value)) return value;
  throw new ConsentUnreadableError(file, `the file holds ${describeValue(parsed)}, no consent state`);
}
