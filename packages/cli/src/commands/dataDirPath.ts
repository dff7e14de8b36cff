import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * `--data-dir` / HOMING_DATA_DIR as an absolute path, a leading `~` or `~/` taken as the home
 * directory. A shell expands `~` only at the start of a word: `--data-dir=~/x`, or
 * HOMING_DATA_DIR='~/x' from a quoted line (a .env file, a unit file), reached us as is and made
 * `./~/x` wherever the command ran. `~user` is left as it is.
 */
export function dataDirPath(given: string): string {
  if (given === '~') return homedir();
  if (given.startsWith('~/')) return join(homedir(), given.slice(2));
  return resolve(given);
}
