/**
 * The install id is kept for the next run even when the outbox directory lost it while the app
 * ran (`rm -rf` of it) or could not be given it at start (no file descriptor free): before, the
 * next run found none and was a new anonymous user.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALL_ID_FILE } from './installIdFile.node.js';
import { clientFor, Sink, sinkEvents, until } from './telemetry.test-helpers.js';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/** Runs a TypeScript fixture under node, to its end. */
async function runChild(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [
    '--conditions=homing-source',
    '--import',
    here('../outbox/file-log/__fixtures__/register-ts.mjs'),
    ...args,
  ]);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  return { code, out, err };
}

describe('the install id kept beside the file outbox', () => {
  let sink: Sink;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-kept-lost-'));
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(async () => {
    await sink.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the directory deleted while the app runs: written again, the same id, with the next events', async () => {
    const directory = path.join(dir, 'deleted');
    const file = path.join(directory, INSTALL_ID_FILE);
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: false });
    try {
      t.track('before');
      await t.persist();
      const id = readFileSync(file, 'utf8').trim();
      // Tried again while the open outbox still adds a file (its space reserve).
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      t.track('after');
      await t.persist();
      await until(() => existsSync(file), 5_000, 'the install id written again');
      expect(readFileSync(file, 'utf8').trim()).toBe(id);
      await t.shutdown({ timeoutMs: 5_000 });
      expect(sinkEvents(sink).map((e) => [e.event, e.distinct_id])).toEqual([
        ['before', id],
        ['after', id],
      ]);
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  // QA: the install id was written back, the remembered grant not: the next run was back to
  // 'pending' (events held, not sent) while the id was on disk again.
  it('under a remembered grant, the directory deleted: the grant is written back too, and the next run is granted', async () => {
    const directory = path.join(dir, 'granted');
    const consentFile = path.join(directory, 'state', 'k-consent.json');
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: true, consent: 'pending' });
    try {
      t.setConsent('granted');
      t.track('before');
      await t.persist();
      await until(() => existsSync(consentFile), 5_000, 'the grant remembered');
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      t.track('after');
      await t.persist();
      await until(
        () => existsSync(path.join(directory, INSTALL_ID_FILE)),
        5_000,
        'the install id written again',
      );
      await t.shutdown({ timeoutMs: 5_000 });
      expect(existsSync(consentFile)).toBe(true);
      const next = clientFor(sink, { storage: 'file', directory, rememberConsent: true, consent: 'pending' });
      await next.flush();
      expect((await next.stats()).consent).toBe('granted');
      await next.shutdown({ timeoutMs: 1_000 });
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  // QA: the denial was not written back (nothing recreated the directory under it), so the next
  // run took the `consent` option, by default 'granted', and sent a user's events who had opted out.
  it('under a remembered denial, the directory deleted: the denial alone is written back, and the next run is denied', async () => {
    const directory = path.join(dir, 'denied');
    const consentFile = path.join(directory, 'state', 'k-consent.json');
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: true });
    try {
      t.identify('user-who-opts-out');
      t.track('before');
      await t.persist();
      t.setConsent('denied');
      await until(() => existsSync(consentFile), 5_000, 'the denial remembered');
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      t.track('after');
      await t.persist().catch(() => {});
      await until(() => existsSync(consentFile), 15_000, 'the denial written back');
      await t.shutdown({ timeoutMs: 5_000 });
      expect(JSON.parse(readFileSync(consentFile, 'utf8'))).toMatchObject({ value: 'denied' });
      // Nothing of the user's: no install id, no identity.
      expect(existsSync(path.join(directory, INSTALL_ID_FILE))).toBe(false);
      expect(existsSync(path.join(directory, 'identity'))).toBe(false);
      const before = sinkEvents(sink).length;
      const next = clientFor(sink, { storage: 'file', directory, rememberConsent: true });
      next.track('next-run');
      await next.flush();
      expect((await next.stats()).consent).toBe('denied');
      await next.shutdown({ timeoutMs: 1_000 });
      expect(
        sinkEvents(sink)
          .slice(before)
          .map((e) => e.event),
      ).toEqual([]);
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  // Review: a setConsent('denied') made as the client started, over a grant an earlier run
  // remembered: the watch took the grant its read at start found for this run's consent, and
  // stored it back once the directory was deleted; the next run sent.
  it("denied as the run starts, over an earlier run's grant, then the directory deleted: the denial is written back, not the grant", async () => {
    const directory = path.join(dir, 'denied-at-start');
    const consentFile = path.join(directory, 'state', 'k-consent.json');
    const earlier = clientFor(sink, {
      storage: 'file',
      directory,
      rememberConsent: true,
      consent: 'pending',
    });
    earlier.setConsent('granted');
    earlier.track('earlier-run');
    await earlier.shutdown({ timeoutMs: 5_000 });
    expect(JSON.parse(readFileSync(consentFile, 'utf8'))).toMatchObject({ value: 'granted' });
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: true, consent: 'pending' });
    try {
      t.setConsent('denied');
      await until(
        () => existsSync(consentFile) && readFileSync(consentFile, 'utf8').includes('denied'),
        5_000,
        'the denial remembered',
      );
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      await until(() => existsSync(consentFile), 15_000, 'the consent written back');
      expect(JSON.parse(readFileSync(consentFile, 'utf8'))).toMatchObject({ value: 'denied' });
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  // The install id was written back, the identity `identify()` kept not: the next run was anonymous.
  it('identify(), then the directory deleted: the identity is written back too, and the next run is that user', async () => {
    const directory = path.join(dir, 'identified');
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: false });
    try {
      t.identify('user-kept');
      t.track('identified-before');
      await t.persist();
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      t.track('identified-after');
      await t.persist();
      await until(
        () => existsSync(path.join(directory, INSTALL_ID_FILE)),
        5_000,
        'the install id written again',
      );
      await t.shutdown({ timeoutMs: 5_000 });
      expect(readFileSync(path.join(directory, 'identity'), 'utf8').trim()).toBe('user-kept');
      const next = clientFor(sink, { storage: 'file', directory, rememberConsent: false });
      next.track('identified-next-run');
      await next.shutdown({ timeoutMs: 5_000 });
      expect(sinkEvents(sink).find((e) => e.event === 'identified-next-run')?.distinct_id).toBe('user-kept');
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  it('identify() then reset(), then the directory deleted: the identity forgotten is not written back', async () => {
    const directory = path.join(dir, 'identified-reset');
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: false });
    try {
      t.identify('user-gone');
      t.track('reset-before');
      await t.persist();
      t.reset();
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      t.track('reset-after');
      await t.persist();
      await until(
        () => existsSync(path.join(directory, INSTALL_ID_FILE)),
        5_000,
        'the install id written again',
      );
      await t.shutdown({ timeoutMs: 5_000 });
      expect(existsSync(path.join(directory, 'identity'))).toBe(false);
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  // QA: the segment written at exit made the directory again unheard (a synchronous write, and no
  // later turn): the next run of a short CLI found neither the install id nor outbox.json.
  it.each(['not-remembered', 'granted'])(
    'the directory deleted, then the process exits at once (consent %s): written back at exit',
    async (consent) => {
      const directory = path.join(dir, `exit-${consent}`);
      const { code, out, err } = await runChild([
        here('./__fixtures__/exit-after-rm-child.ts'),
        directory,
        consent,
      ]);
      expect(code, err).toBe(0);
      const id = /^ID (\S+)$/m.exec(out)?.[1];
      expect(id, out).toBeDefined();
      expect(readdirSync(directory).some((name) => name.endsWith('.log'))).toBe(true);
      expect(readFileSync(path.join(directory, INSTALL_ID_FILE), 'utf8').trim()).toBe(id);
      expect(existsSync(path.join(directory, 'outbox.json'))).toBe(true);
      expect(existsSync(path.join(directory, 'state', 'k-consent.json'))).toBe(consent === 'granted');
      expect(readFileSync(path.join(directory, 'identity'), 'utf8').trim()).toBe('user-1');
    },
    60_000,
  );

  // QA: the identity's write made the directory again unheard; the segment written later found it there.
  it('the directory deleted, then identify(): the install id and outbox.json are written back in that call', async () => {
    const directory = path.join(dir, 'identify');
    const file = path.join(directory, INSTALL_ID_FILE);
    const t = clientFor(sink, { storage: 'file', directory, rememberConsent: false });
    try {
      t.track('before');
      await t.persist();
      const id = readFileSync(file, 'utf8').trim();
      await fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
      t.identify('user-1');
      expect(readFileSync(path.join(directory, 'identity'), 'utf8').trim()).toBe('user-1');
      expect(readFileSync(file, 'utf8').trim()).toBe(id);
      expect(existsSync(path.join(directory, 'outbox.json'))).toBe(true);
      t.track('after');
      await t.shutdown({ timeoutMs: 5_000 });
      expect(readFileSync(file, 'utf8').trim()).toBe(id);
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });

  it.skipIf(process.platform === 'win32')(
    'no file descriptor free at start: the id this run used is kept once they come back, with outbox.json',
    async () => {
      const directory = path.join(dir, 'no-descriptors');
      const child = spawn(
        'sh',
        [
          '-c',
          'ulimit -n 256 && exec "$0" "$@"',
          process.execPath,
          '--conditions=homing-source',
          '--import',
          here('../outbox/file-log/__fixtures__/register-ts.mjs'),
          here('./__fixtures__/no-descriptors-child.ts'),
          directory,
          sink.url,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(killer);
      expect(code, err).toBe(0);
      const lines = out.split('\n');
      const used = new Set(lines.filter((l) => l.startsWith('D ')).map((l) => l.slice(2)));
      // One id for the run, made while its store could not be read.
      expect(used.size).toBe(1);
      // Before, neither was ever written in this run: the next one was a new anonymous user.
      expect(lines).toContain(`I ${[...used][0]}`);
      expect(lines).toContain('O yes');
    },
    60_000,
  );
});
