import type { Outbox } from '../outbox/outbox.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import { distinctIdProblem } from './distinctIdProblem.js';

/** The outbox state key of the anonymous install id (where no install-id file is used). */
export const INSTALL_ID_STATE_KEY = 'install-id';

/**
 * Reads or creates the install id somewhere race-free (Node: a file created exclusively,
 * synchronously). With `syncOnly` it answers undefined instead of starting asynchronous work:
 * before the remembered consent is read, an id may only be made where that consent could be
 * read synchronously too. `made`: the id to store when none is (this run's own, made while the
 * store failed), instead of a new one; one stored already is answered, as always.
 */
export type InstallIdStore = ((syncOnly?: boolean, made?: string) => string | Promise<string> | undefined) & {
  /**
   * Stores `id` in place of the kept one, or removes the kept one (undefined): `reset()` after
   * someone was identified gives later anonymous events a new id (see `WhoEventsAreAbout`).
   */
  replace?(id: string | undefined): void | Promise<void>;
};

/**
 * The anonymous install id: the `distinct_id` of an app that gives none. Made once per storage
 * (a UUIDv7, so ids sort by install time) and kept with the outbox, so every run and every
 * process on that outbox reports as the same install. Where `store` is given it decides (the
 * Node file outbox uses a file created with O_EXCL, so two processes starting at once agree);
 * otherwise the outbox state holds it, read back after writing so that concurrent writers
 * settle on the last value stored.
 */
export async function loadInstallId(
  outbox: Outbox,
  store?: InstallIdStore,
  retryDelaysMs: readonly number[] = TRANSIENT_RETRY_MS,
  made?: string,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await loadOnce(outbox, store, made);
    } catch (error) {
      const delay = retryDelaysMs[attempt];
      if (delay === undefined || !isTransient(error)) throw error;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        (timer as { unref?: () => void }).unref?.();
      });
    }
  }
}

/**
 * Waits before another read of the install id after a failure that passes (no file descriptor
 * free at start, an interrupted call): under 1 s in all, while events wait in memory. Giving
 * up at once made the run report under an id of its own, one user counted as two installs.
 */
export const TRANSIENT_RETRY_MS: readonly number[] = [50, 150, 450];

const TRANSIENT_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR']);

function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

async function loadOnce(outbox: Outbox, store: InstallIdStore | undefined, made?: string): Promise<string> {
  if (store !== undefined) {
    const id = await store(false, made);
    if (id !== undefined) return id;
    throw new Error('the install id store answered nothing');
  }
  const known = await outbox.getState<unknown>(INSTALL_ID_STATE_KEY);
  if (isInstallId(known)) return known;
  // `made`: the run's own id, kept where none is stored (see InstallIdStore).
  await outbox.setState(INSTALL_ID_STATE_KEY, isInstallId(made) ? made : uuidv7());
  const stored = await outbox.getState<unknown>(INSTALL_ID_STATE_KEY);
  if (isInstallId(stored)) return stored;
  throw new Error('the install id could not be stored');
}

/**
 * An install id that may be kept: a placeholder ('undefined', 'null', ...), what a bug that
 * stringified a missing value stored, is no id every event of the device should carry.
 */
export function isInstallId(value: unknown): value is string {
  return (
    typeof value === 'string' && /^[0-9A-Za-z-]{8,64}$/.test(value) && distinctIdProblem(value) === undefined
  );
}
