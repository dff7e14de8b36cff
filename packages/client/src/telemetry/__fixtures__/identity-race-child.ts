/**
 * A CLI's `logout` racing its own earlier `login`, run as
 * `node --conditions=homing-source --import <register-ts.mjs> identity-race-child.ts <dir> <turns>`:
 * keeps 'dave', lets `turns` turns of the event loop pass (so that write is anywhere from not
 * started to done), forgets it, and ends with `process.exit()` in that turn, as the client's
 * exit hook does (`finishNow`). The next run must find no identity and no temporary file.
 */
import { silentLogger } from '../../logger.js';
import { IdentityKeeper } from '../IdentityKeeper.js';
import { identityFile } from '../identityFile.node.js';

const [directory, turnsArg] = process.argv.slice(2);
if (directory === undefined) {
  process.stderr.write('usage: identity-race-child.ts <dir> <turns>\n');
  process.exit(2);
}
const keeper = new IdentityKeeper(identityFile(directory), silentLogger);
keeper.keep('dave', 'granted', false);
let turns = Number(turnsArg);
const step = (): void => {
  if (turns-- > 0) {
    setImmediate(step);
    return;
  }
  keeper.keep(undefined, 'granted', false);
  keeper.finishNow('granted', false);
  process.exit(0);
};
step();
