import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A directory given on the command line or in a variable (`--data-dir`, HOMING_DATA_DIR,
 * `--outbox`) as an absolute path, a leading `~` or `~/` taken as the home directory. A shell
 * expands `~` only at the start of a word: `--data-dir=~/x`, `--outbox=~/x`, or
 * HOMING_DATA_DIR='~/x' from a quoted line (a .env file, a unit file), reached us as is and made
 * (or looked for) `./~/x` wherever the command ran. `~user` is left as it is.
 */
export function givenPath(given: string): string {
  if (given === '~') return homedir();
  if (given.startsWith('~/')) return join(homedir(), given.slice(2));
  return resolve(given);
}
