import { CommandError } from './commandError.js';

/**
 * A command's body, loaded when the command runs (see registerServe.ts). One that cannot be
 * loaded (a package of the install missing or broken: a partial copy, `npm install` cut short,
 * `--omit` of what the command needs) is a message with what to do, exit code 1, not Node's
 * stack of the failed import.
 */
export async function loadCommand<T>(command: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new CommandError(
      `homing ${command} could not be loaded: ${why}`,
      'a package homing needs is missing or broken in this install: install homing again (npm install homing, or npm ci where a project depends on it)',
    );
  }
}
