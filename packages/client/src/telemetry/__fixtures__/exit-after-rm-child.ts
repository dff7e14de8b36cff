/**
 * A short CLI run whose outbox directory is deleted before it ends, run as
 * `node --conditions=homing-source --import <register-ts.mjs> exit-after-rm-child.ts <dir> <consent>`
 * (`consent`: 'not-remembered', or 'granted': set and remembered): it identifies `user-1`, tracks
 * and persists `before`,
 * prints `ID <install id>`, deletes the directory (`rm -rf`), tracks `after` and calls
 * `process.exit(0)` at once, so the directory is made again only by the segment written at exit.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createTelemetry } from '../../index.node.js';
import '../../outbox/node.js';

const [directory, consent] = process.argv.slice(2) as [string, string];
const client = createTelemetry({
  endpoints: [
    {
      destination: 'custom',
      send: async () => {
        throw new Error('down');
      },
    },
  ],
  storage: 'file',
  directory,
  rememberConsent: consent === 'granted',
  ...(consent === 'granted' ? { consent: 'pending' as const } : {}),
  delivery: { intervalMs: 60_000, flushOnExit: false },
  logger: { debug() {}, warn: (m: string) => void process.stderr.write(`W ${m}\n`), error() {} },
});
if (consent === 'granted') client.setConsent('granted');
client.identify('user-1');
client.track('before');
await client.persist();
// The grant's own write lands first: made again by it, the directory would be heard anyway.
const consentFile = path.join(directory, 'state', 'k-consent.json');
while (consent === 'granted' && !existsSync(consentFile)) await new Promise((r) => setTimeout(r, 10));
process.stdout.write(`ID ${readFileSync(path.join(directory, 'install-id'), 'utf8').trim()}\n`);
rmSync(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
client.track('after');
process.exit(0);
