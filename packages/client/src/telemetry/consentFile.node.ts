import { promises as fs, lstatSync, readFileSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import {
  effectiveUid,
  unsafeDirectory,
  unsafeDirectorySync,
  unsafeReasons,
} from '../outbox/file-log/ownDirectory.js';
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

export interface ConsentFileOptions {
  /**
   * Whose consent is read: by default this process's (the app's own); 'owner': that of an app
   * running as the directory's owner, for a tool that reads another account's outbox
   * (`homing status` run with sudo), which would otherwise not take that owner's grant.
   */
  readonly readAs?: 'process' | 'owner';
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
 * `state/` is a file, so nothing can be stored there either), or it holds a grant that another
 * account may have put there (`grantTrusted`). Every other failure, and a file that holds no
 * consent state, is unreadable (`ConsentUnreadableError`). Nothing is written in a directory
 * another account made or can write in (`UnsafeDirectoryError`: the client writes it again
 * until it can, as for a read-only directory).
 */
export function consentFile(directory: string, options: ConsentFileOptions = {}): ConsentFile {
  const stateDir = path.join(directory, STATE_DIR);
  const file = path.join(stateDir, CONSENT_FILE);
  const failed = (error: unknown): undefined => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConsentUnreadableError(file, describeError(error), { cause: error });
  };
  const parse = (text: string | undefined): ConsentState | undefined =>
    text === undefined ? undefined : consentIn(text, file);
  const readerSync = (): number | undefined => {
    if (options.readAs !== 'owner') return effectiveUid();
    try {
      return statSync(directory).uid;
    } catch {
      return effectiveUid();
    }
  };
  const reader = async (): Promise<number | undefined> =>
    options.readAs === 'owner' ? fs.stat(directory).then((s) => s.uid, effectiveUid) : effectiveUid();
  // Written as the outbox writes its state (atomically, synced): `homing status` and the outbox read it there.
  const state = new StateFiles(stateDir, { fsync: true });
  return {
    async read() {
      const link = await fs.lstat(file).catch(failed);
      // A symlink is never written there, but is read as before: what it points at, then.
      const target = link?.isSymbolicLink() === true ? await fs.stat(file).catch(failed) : link;
      if (link === undefined || target === undefined) return undefined;
      assertFileLike(file, target);
      const consent = parse(await fs.readFile(file, 'utf8').catch(failed));
      if (consent !== 'granted') return consent;
      const uid = await reader();
      return grantTrusted(link, uid) && (await unsafeDirectory(directory, uid)) === undefined
        ? consent
        : undefined;
    },
    readNow() {
      let link: Stats | undefined;
      let text: string | undefined;
      try {
        link = lstatSync(file);
        assertFileLike(file, link.isSymbolicLink() ? statSync(file) : link);
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if (error instanceof ConsentUnreadableError) throw error;
        text = failed(error);
      }
      const consent = parse(text);
      if (consent !== 'granted') return consent;
      const uid = readerSync();
      return grantTrusted(link!, uid) && unsafeDirectorySync(directory, uid) === undefined
        ? consent
        : undefined;
    },
    async write(consent) {
      // Nothing of the user's goes into a directory another account made or can write in.
      const unsafe = await unsafeDirectory(directory);
      if (unsafe !== undefined) throw unsafe;
      await state.set(CONSENT_STATE_KEY, JSON.stringify(consent));
    },
    writeNow(consent) {
      const unsafe = unsafeDirectorySync(directory);
      if (unsafe !== undefined) throw unsafe;
      state.setSync(CONSENT_STATE_KEY, JSON.stringify(consent));
    },
  };
}

/**
 * A stored grant counts only from a file that `uid` alone can have put there: a regular file of
 * its own that no one else can write (what `StateFiles` writes: renamed into place, 0600), in
 * directories of its own (`unsafeDirectory`). Otherwise it is taken for none stored, so the
 * app's `consent` option applies: a grant planted in a shared directory (or left there before its
 * owner made it private) must never win over the app's 'denied'. A denial or 'pending' counts
 * wherever it is read: honouring one that was planted only holds events back.
 */
function grantTrusted(file: Stats, uid: number | undefined): boolean {
  return !file.isSymbolicLink() && unsafeReasons(file, uid).length === 0;
}

/**
 * Refuses, unopened, what is no file (a directory is let through: its EISDIR says so): a FIFO put
 * there held the app's start forever in `open`, a device fed it without end.
 */
function assertFileLike(file: string, target: Stats): void {
  if (target.isFile() || target.isDirectory()) return;
  throw new ConsentUnreadableError(file, 'it is not a file');
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
