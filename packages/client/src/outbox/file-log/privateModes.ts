/**
 * Modes of what the outbox creates: its owner's alone. The directory holds events, the install
 * id, the kept identity and the endpoints' state (keys among it); under the usual umask 022 Node's
 * defaults (0777, 0666) made them readable by every local account.
 *
 * Only what is created gets these: an existing directory keeps the mode it has (its owner may
 * share it on purpose, for reading: one others can write in, or another account's, is refused,
 * `ownDirectory.ts`), and a file is created with it, never chmod-ed after.
 */
export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
