/**
 * A client that starts with no file descriptor free, run as
 * `node --conditions=homing-source --import <register-ts.mjs> no-descriptors-child.ts <dir> <sinkUrl>`
 * under a small `ulimit -n`: it opens /dev/null until EMFILE, starts a client on a file outbox in
 * `<dir>`, tracks `early`, waits past the install id's retries, lets the descriptors go, tracks
 * `late`, persists, and prints `D <distinct_id>` per event sent to `beforeSend`, then `K` and
 * waits for the install id to be kept (at most 10 s), printing `I <id or none>` and
 * `O <outbox.json there: yes|no>`.
 */
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createTelemetry } from '../../index.node.js';
// Loaded before the descriptors run out: the client imports it on first use.
import '../../outbox/node.js';

const [directory, sinkUrl] = process.argv.slice(2) as [string, string];
const descriptors: number[] = [];
try {
  for (;;) descriptors.push(openSync('/dev/null', 'r'));
} catch {
  // EMFILE: none left.
}
const client = createTelemetry({
  endpoints: [{ destination: 'homing', host: sinkUrl, key: 'child-key' }],
  storage: 'file',
  directory,
  rememberConsent: false,
  delivery: { intervalMs: 60_000 },
  logger: { debug() {}, warn() {}, error() {} },
  beforeSend: (event) => {
    process.stdout.write(`D ${event.distinct_id}\n`);
    return event;
  },
});
client.track('early');
await new Promise((resolve) => setTimeout(resolve, 1_500));
for (const fd of descriptors.splice(0)) closeSync(fd);
client.track('late');
await client.persist().catch(() => {});
process.stdout.write('K\n');
const file = path.join(directory, 'install-id');
const deadline = Date.now() + 10_000;
while (!existsSync(file) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
process.stdout.write(`I ${existsSync(file) ? readFileSync(file, 'utf8').trim() : 'none'}\n`);
process.stdout.write(`O ${existsSync(path.join(directory, 'outbox.json')) ? 'yes' : 'no'}\n`);
await client.shutdown({ timeoutMs: 500 });
