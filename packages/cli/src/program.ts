import { Command } from 'commander';
import { registerDeadLetters } from './commands/dead-letters.js';
import { registerFlush } from './commands/flush.js';
import { registerProjects } from './commands/projects.js';
import { registerServe } from './commands/serve.js';
import { registerStatus } from './commands/status.js';

export const VERSION = '0.1.0';

/** Each command file exports one `register…(program)` function that adds its subcommand. */
type Register = (program: Command) => void;

// Commands register here, one line each (commands/<name>.ts).
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
    .showHelpAfterError('(run "homing --help" to see every command and option)');
  for (const register of commands) register(program);
  return program;
}
