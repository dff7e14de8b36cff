#!/usr/bin/env node
// A command-line tool instrumented with Homing, the way design 001's CLI would be: each run
// records what it did and how long it took, its failures, and a conversation with a model;
// events go through the file outbox, so a run with no network leaves them for the next run.
//
//   HOMING_URL=http://127.0.0.1:8090 HOMING_KEY=<write key> node examples/cli/homing-demo.mjs greet Ada
import { createTelemetry } from '@homing/client';

if (!process.env.HOMING_KEY) {
  // The client would refuse an empty key with a stack trace; say what to do instead.
  console.error(
    'HOMING_KEY is not set: set it to the write key `homing serve` printed on its first start (`npx homing projects list` shows it again).',
  );
  process.exit(1);
}

let telemetry;
try {
  telemetry = createTelemetry({
    endpoints: [
      {
        destination: 'homing',
        host: process.env.HOMING_URL ?? 'http://127.0.0.1:8090',
        key: process.env.HOMING_KEY,
      },
    ],
    name: 'example-cli',
    directory: process.env.HOMING_OUTBOX_DIR,
  });
} catch (error) {
  // A bad option names itself (HOMING_URL without http://, say): the message, not a stack trace.
  console.error(`Cannot start telemetry: ${error.message}`);
  process.exit(1);
}

const [command = 'greet', ...args] = process.argv.slice(2);
const started = performance.now();
telemetry.track('cli_invocation', { command, argCount: args.length });
telemetry.mark('run.start');
// Rides on any $exception of this run, so a failure shows what was being run.
telemetry.addBreadcrumb({ category: 'cli', message: `run ${command}`, data: { argCount: args.length } });

try {
  if (command === 'greet') {
    console.log(`Hello, ${args[0] ?? 'world'}!`);
    telemetry.trackFeature('greet', 'used');
  } else if (command === 'ask') {
    const conversation = telemetry.startConversation(undefined, { model: 'local' });
    telemetry.trackMessage(conversation, { role: 'user', tokens: 12 });
    telemetry.trackMessage(conversation, { role: 'assistant', tokens: 48 });
    telemetry.endConversation(conversation, 'completed');
    console.log('The answer is 42.');
  } else {
    throw new Error(`unknown command "${command}"`);
  }
} catch (error) {
  telemetry.captureError(error, { severity: 'error', tags: { command } });
  console.error(String(error));
  process.exitCode = 2;
} finally {
  telemetry.mark('run.end');
  telemetry.measure('run', 'run.start', 'run.end');
  telemetry.timing('cli.duration', performance.now() - started, { command });
  // A CLI must not wait long for the network: what is not sent in 2 s waits in the outbox.
  await telemetry.shutdown({ timeoutMs: 2_000 });
}
