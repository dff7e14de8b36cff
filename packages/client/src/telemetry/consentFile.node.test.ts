import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  promises as fs,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { TelemetryClient } from './client.js';
import { consentFile } from './consentFile.node.js';
import { clientFor, Sink, until } from './telemetry.test-helpers.js';

/**
 * Where the remembered consent may come from: a grant only from a file of the reader's own, in
 * directories of its own that no one else can write in; a denial from anywhere. Real
 * directories, chmod-ed and chown-ed (another owner needs root).
 */
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const posix = process.platform !== 'win32';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An outbox directory of this user's own (0700) holding `consent` remembered in `state/`. */
function withConsent(consent: string): { directory: string; file: string } {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-consent-file-'));
  cleanups.push(() => fs.rm(directory, { recursive: true, force: true }));
  mkdirSync(path.join(directory, 'state'), { mode: 0o700 });
  const file = path.join(directory, 'state', 'k-consent.json');
  writeFileSync(file, JSON.stringify({ key: 'consent', value: consent }), { mode: 0o600 });
  return { directory, file };
}

async function both(directory: string): Promise<unknown[]> {
  const store = consentFile(directory);
  return [await store.read(), store.readNow()];
}

describe.runIf(posix)('a remembered consent in a directory others can write in', () => {
  it("a grant there is taken for none (the app's option applies); a denial there is honoured", async () => {
    const granted = withConsent('granted');
    chmodSync(granted.directory, 0o777);
    expect(await both(granted.directory)).toEqual([undefined, undefined]);
    const denied = withConsent('denied');
    chmodSync(path.join(denied.directory, 'state'), 0o770);
    expect(await both(denied.directory)).toEqual(['denied', 'denied']);
    // Made private again, its grant counts.
    chmodSync(granted.directory, 0o700);
    expect(await both(granted.directory)).toEqual(['granted', 'granted']);
  });

  it('a choice made there is not written there; once the directory is fixed, it is', async () => {
    const { directory, file } = withConsent('granted');
    await fs.rm(file);
    chmodSync(directory, 0o777);
    const sink = await Sink.start();
    cleanups.push(() => sink.down());
    const t: TelemetryClient = clientFor(sink, { storage: 'file', directory });
    cleanups.push(() => t.shutdown({ timeoutMs: 1_000 }));
    t.setConsent('denied');
    await t.flush({ timeoutMs: 500 });
    expect(existsSync(file)).toBe(false);
    chmodSync(directory, 0o700);
    // Written again at the next look of the consent watch (every 2 s).
    await until(() => existsSync(file), 15_000, 'the denial written');
    expect(await both(directory)).toEqual(['denied', 'denied']);
  });
});

describe.runIf(asRoot && posix)('a remembered consent of another account', () => {
  it('a grant in a file another account put in a directory of ours (before it was made private) is taken for none; its denial is honoured', async () => {
    const granted = withConsent('granted');
    chownSync(granted.file, NOBODY, NOBODY);
    expect(await both(granted.directory)).toEqual([undefined, undefined]);
    const denied = withConsent('denied');
    chownSync(denied.file, NOBODY, NOBODY);
    expect(await both(denied.directory)).toEqual(['denied', 'denied']);
  });

  it("in another user's private outbox: its grant is not this process's (root running an app there); read as its owner's, it is (sudo homing status)", async () => {
    const { directory, file } = withConsent('granted');
    for (const p of [directory, path.join(directory, 'state'), file]) chownSync(p, NOBODY, NOBODY);
    expect(await both(directory)).toEqual([undefined, undefined]);
    const asOwner = consentFile(directory, { readAs: 'owner' });
    expect([await asOwner.read(), asOwner.readNow()]).toEqual(['granted', 'granted']);
  });
});

describe.runIf(posix)('what is no file where the consent is kept', () => {
  // A child process: before, the read blocked in open() for ever (a FIFO has no writer).
  it('a FIFO: unreadable at once (the client holds events, pending), not a start that never returns', () => {
    const { directory, file } = withConsent('granted');
    expect(spawnSync('rm', [file]).status).toBe(0);
    const made = spawnSync('mkfifo', [file]);
    expect(made.status, String(made.stderr)).toBe(0);
    const register = fileURLToPath(
      new URL('../outbox/file-log/__fixtures__/register-ts.mjs', import.meta.url),
    );
    const module = fileURLToPath(new URL('./consentFile.node.ts', import.meta.url));
    const script = `
      const { consentFile } = await import(${JSON.stringify(module)});
      const store = consentFile(${JSON.stringify(directory)});
      const outcome = (fn) => { try { return String(fn()); } catch (e) { return e.name + ': ' + e.message; } };
      console.log(JSON.stringify([outcome(() => store.readNow()), await store.read().then(String, (e) => e.name + ': ' + e.message)]));
    `;
    const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.signal, r.stderr).toBeNull();
    const said = JSON.parse(r.stdout.trim()) as string[];
    for (const s of said) expect(s).toMatch(/^ConsentUnreadableError: .*k-consent\.json.*it is not a file/);
  }, 30_000);
});
