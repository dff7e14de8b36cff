import { Command, CommanderError } from 'commander';
import { registerDeadLetters } from './commands/registerDeadLetters.js';
import { registerFlush } from './commands/registerFlush.js';
import { registerProjects } from './commands/registerProjects.js';
import { registerServe } from './commands/registerServe.js';
import { registerStatus } from './commands/registerStatus.js';
import { CommandError } from './commands/commandError.js';
import { settleStoreChoice } from './commands/storeChoice.js';
import { terminalText } from './terminalText.js';

export const VERSION = '0.1.0';

/**
 * Each `commands/register<Name>.ts` exports one `register…(program)` function that adds its
 * subcommand: its name, options and help, and an action that loads the command's body
 * (`commands/<name>.ts`) only when it runs.
 */
type Register = (program: Command) => void;

// Commands register here, one line each.
const commands: Register[] = [
  registerServe,
  registerProjects,
  registerStatus,
  registerFlush,
  registerDeadLetters,
];

/**
 * The `homing` command. Each subcommand is a thin shell over a package's API and lives in
 * `commands/<name>.ts`; this file only assembles them.
 */
export function buildProgram(): Command {
  const program = new Command('homing')
    .description('Homing: reliable telemetry delivery and ingest for TypeScript apps')
    .version(VERSION)
    .showHelpAfterError('(run "homing --help" to see every command and option)')
    // Inherited by every subcommand: usage errors come back to runCli instead of exiting 1.
    .exitOverride()
    .hook('preAction', (_program, action) => settleStoreChoice(action));
  for (const register of commands) register(program);
  // A usage error in a command points at that command's help: `homing --help` lists no options
  // of `serve` or `projects create`.
  const pointAtOwnHelp = (cmd: Command, path: string): void => {
    for (const sub of cmd.commands) {
      const name = `${path} ${sub.name()}`;
      sub.showHelpAfterError(`(run "${name} --help" to see its options)`);
      pointAtOwnHelp(sub, name);
    }
  };
  pointAtOwnHelp(program, 'homing');
  return program;
}

/** Exit code of bad usage (an unknown command or option, a missing one), as each command uses. */
export const USAGE_EXIT_CODE = 2;

/**
 * Runs `homing` with `argv` and answers the exit code. Commander exits 1 on a usage error, where
 * the commands themselves answer 2 for bad usage: scripts can tell it from a failure only if
 * both agree. Help and --version answer 0.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
    // A command's body that could not be loaded (`loadCommand`): its message and hint.
    if (error instanceof CommandError) {
      process.stderr.write(`error: ${terminalText(error.message)}\n`);
      if (error.hint !== undefined) process.stderr.write(`hint: ${terminalText(error.hint)}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
