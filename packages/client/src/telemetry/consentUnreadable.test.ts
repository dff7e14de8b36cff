import { existsSync, mkdtempSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HomingEvent } from '../event.js';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import type { TelemetryOptions } from './options.js';
import { testPlatform, until } from './telemetry.test-helpers.js';

const dirs: string[] = [];
const clients: TelemetryClient[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of clients.splice(0)) await c.shutdown({ timeoutMs: 1_000 });
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-consent-unreadable-'));
  dirs.push(dir);
  return dir;
}

interface Run {
  client: TelemetryClient;
  received: HomingEvent[];
  warnings: string[];
}

/** A client on the file outbox in `directory`, its consent option left at the default ('granted'). */
function run(directory: string, options: Partial<TelemetryOptions> = {}): Run {
  const received: HomingEvent[] = [];
  const warnings: string[] = [];
  const client = createTelemetry({
    endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
    storage: 'file',
    directory,
    platform: testPlatform(),
    logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
    delivery: { intervalMs: 20 },
    ...options,
  });
  clients.push(client);
  return { client, received, warnings };
}

/** An earlier run of the app in which the user opted out. */
async function deniedBefore(directory: string): Promise<void> {
  const first = run(directory);
  first.client.setConsent('denied');
  await first.client.shutdown({ timeoutMs: 2_000 });
}

const consentPath = (directory: string): string => path.join(directory, 'state', 'k-consent.json');

/** Tracks 3 events and flushes: what a run where the consent is not known must not send. */
async function trackAndFlush(r: Run): Promise<void> {
  for (let i = 0; i < 3; i++) r.client.track('after', { i });
  await r.client.flush({ timeoutMs: 1_000 });
}

const unreadableWarnings = (r: Run): string[] =>
  r.warnings.filter((w) => w.includes('could not read the remembered consent'));

describe('a remembered consent that cannot be read (fail closed)', () => {
  const damages: Record<string, (file: string) => Promise<void>> = {
    'truncated JSON': (file) => fs.writeFile(file, '{"v":'),
    'an empty file': (file) => fs.writeFile(file, ''),
    'a directory': async (file) => {
      await fs.rm(file);
      await fs.mkdir(file);
    },
    'valid JSON that is no consent state': (file) =>
      fs.writeFile(file, JSON.stringify({ key: 'consent', value: 'maybe' })),
  };
  for (const [damage, apply] of Object.entries(damages)) {
    it(`${damage}: events are held (pending), not sent, and the repaired denial is then applied`, async () => {
      const directory = tempDir();
      await deniedBefore(directory);
      const good = await fs.readFile(consentPath(directory), 'utf8');
      await apply(consentPath(directory));
      const r = run(directory);
      await trackAndFlush(r);
      const stats = await r.client.stats();
      expect(stats.consent).toBe('pending');
      expect(stats.sent).toBe(0);
      // Held in memory, in no queue: before, stats() said nothing was waiting and nothing was wrong.
      expect(stats.lastError).toMatchObject({ endpoint: 'consent' });
      expect(stats.lastError?.reason).toContain('could not read the remembered consent');
      expect(r.received).toEqual([]);
      expect(unreadableWarnings(r)).toHaveLength(1);
      // Repaired (by hand, or a backup put back): the client keeps reading it, and follows it.
      await fs.rm(consentPath(directory), { recursive: true });
      await fs.writeFile(consentPath(directory), good);
      await until(async () => (await r.client.stats()).consent === 'denied', 10_000, 'the denial');
      await until(async () => (await r.client.stats()).dropped.consent >= 3, 10_000, 'held events cleared');
      expect(r.received).toEqual([]);
      expect((await r.client.stats()).lastError).toBeNull();
      // Only the one warning, however many looks it took.
      expect(unreadableWarnings(r)).toHaveLength(1);
    });
  }

  it('a read error at start (EMFILE) holds events until the denial can be read', async () => {
    const directory = tempDir();
    await deniedBefore(directory);
    const readFile = fs.readFile.bind(fs);
    let failures = 1;
    vi.spyOn(fs, 'readFile').mockImplementation(((file: Parameters<typeof readFile>[0], ...rest: []) => {
      if (String(file) === consentPath(directory) && failures-- > 0) {
        return Promise.reject(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }));
      }
      return readFile(file, ...rest);
    }) as typeof fs.readFile);
    const r = run(directory);
    await trackAndFlush(r);
    expect(r.received).toEqual([]);
    await until(async () => (await r.client.stats()).consent === 'denied', 10_000, 'the denial');
    r.client.track('after.read');
    await r.client.flush({ timeoutMs: 500 });
    expect(r.received).toEqual([]);
    expect((await r.client.stats()).dropped.consent).toBeGreaterThanOrEqual(4);
  });

  it('removed once unreadable: none is stored after all, so the consent option applies', async () => {
    const directory = tempDir();
    await deniedBefore(directory);
    await fs.writeFile(consentPath(directory), 'garbage');
    const r = run(directory);
    await trackAndFlush(r);
    expect(r.received).toEqual([]);
    await fs.rm(consentPath(directory));
    await until(() => r.received.length === 3, 10_000, 'the held events sent');
    expect((await r.client.stats()).consent).toBe('granted');
  });

  it('setConsent() while it is unreadable decides, and is stored over the damaged file', async () => {
    const directory = tempDir();
    await deniedBefore(directory);
    await fs.writeFile(consentPath(directory), '');
    const r = run(directory);
    await trackAndFlush(r);
    r.client.setConsent('granted');
    await until(() => r.received.length === 3, 10_000, 'the held events sent');
    await r.client.shutdown({ timeoutMs: 2_000 });
    expect(JSON.parse(await fs.readFile(consentPath(directory), 'utf8'))).toEqual({
      key: 'consent',
      value: 'granted',
    });
  });
});

describe('setConsent() while it is unreadable, and its write fails too (EMFILE for a moment)', () => {
  it('the older grant read once the file is readable again does not undo the denial: it is stored over it', async () => {
    const directory = tempDir();
    const first = run(directory);
    first.client.setConsent('granted');
    await first.client.shutdown({ timeoutMs: 2_000 });
    // Reads and writes of the consent file fail while `broken` (no file descriptor free).
    let broken = true;
    const emfile = () => Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    const consent = consentPath(directory);
    const readFile = fs.readFile.bind(fs);
    const open = fs.open.bind(fs);
    const reads = vi
      .spyOn(fs, 'readFile')
      .mockImplementation(((file: string, ...rest: []) =>
        broken && String(file).startsWith(consent)
          ? Promise.reject(emfile())
          : readFile(file, ...rest)) as typeof fs.readFile);
    vi.spyOn(fs, 'open').mockImplementation(async (file, flags, mode) => {
      if (broken && String(file).startsWith(consent)) throw emfile();
      return open(file, flags, mode);
    });
    const r = run(directory);
    await until(() => unreadableWarnings(r).length > 0, 5_000, 'the unreadable warning');
    r.client.setConsent('denied');
    await until(() => r.warnings.some((w) => w.includes('could not remember')), 5_000, 'the failed write');
    broken = false;
    // Written again once it can be: the next run starts denied too.
    await until(() => readFileSync(consent, 'utf8').includes('denied'), 10_000, 'the denial stored');
    // The watch has looked again since: still denied, and nothing tracked since is sent.
    const consentReads = (): number => reads.mock.calls.filter(([file]) => String(file) === consent).length;
    const before = consentReads();
    await until(() => consentReads() > before + 1, 10_000, 'two more looks');
    expect((await r.client.stats()).consent).toBe('denied');
    await trackAndFlush(r);
    expect(r.received).toEqual([]);
  });
});

describe('no install id while the remembered consent cannot be read (it may be a denial)', () => {
  const installIdPath = (directory: string): string => path.join(directory, 'install-id');
  /** A directory whose consent file is there but empty, with no install id yet. */
  async function unreadableFirst(): Promise<string> {
    const directory = tempDir();
    await fs.mkdir(path.join(directory, 'state'), { recursive: true });
    await fs.writeFile(consentPath(directory), '');
    return directory;
  }
  const stored = (value: string): string => JSON.stringify({ key: 'consent', value });

  it('repaired to the denial it was: no id was made, before or after', async () => {
    const directory = tempDir();
    // Denied from the first run on: no id was ever made.
    const first = run(directory, { consent: 'denied' });
    first.client.setConsent('denied');
    await first.client.shutdown({ timeoutMs: 2_000 });
    expect(existsSync(installIdPath(directory))).toBe(false);
    const good = await fs.readFile(consentPath(directory), 'utf8');
    await fs.writeFile(consentPath(directory), '');
    const r = run(directory);
    await trackAndFlush(r);
    expect((await r.client.stats()).consent).toBe('pending');
    expect(existsSync(installIdPath(directory))).toBe(false);
    await fs.writeFile(consentPath(directory), good);
    await until(async () => (await r.client.stats()).consent === 'denied', 10_000, 'the denial');
    // The events held for the id are cleared with the denial.
    expect((await r.client.stats()).dropped.consent).toBeGreaterThanOrEqual(3);
    await r.client.shutdown({ timeoutMs: 2_000 });
    expect(existsSync(installIdPath(directory))).toBe(false);
    expect(r.received).toEqual([]);
  });

  it('repaired to a grant: the id is made then, and the held events go out under it', async () => {
    const directory = await unreadableFirst();
    const r = run(directory);
    await trackAndFlush(r);
    expect(existsSync(installIdPath(directory))).toBe(false);
    await fs.writeFile(consentPath(directory), stored('granted'));
    await until(() => r.received.length === 3, 10_000, 'the held events sent');
    const id = readFileSync(installIdPath(directory), 'utf8').trim();
    expect(r.received.map((e) => e.distinct_id)).toEqual([id, id, id]);
  });

  it('repaired to pending: the id is made then, and the held events are stored, not sent', async () => {
    const directory = await unreadableFirst();
    const r = run(directory);
    await trackAndFlush(r);
    await fs.writeFile(consentPath(directory), stored('pending'));
    await until(() => existsSync(installIdPath(directory)), 10_000, 'the install id');
    await until(async () => (await r.client.stats()).queue?.events === 3, 10_000, 'the held events stored');
    expect(r.received).toEqual([]);
    r.client.setConsent('granted');
    await until(() => r.received.length === 3, 10_000, 'the held events sent');
  });

  it('setConsent() decides: granted makes the id and sends what was held', async () => {
    const directory = await unreadableFirst();
    const r = run(directory);
    await trackAndFlush(r);
    r.client.setConsent('granted');
    await r.client.flush({ timeoutMs: 2_000 });
    expect(r.received).toHaveLength(3);
    expect(existsSync(installIdPath(directory))).toBe(true);
  });

  it('still unreadable at shutdown: what was held in memory is counted unsaved, and no id was made', async () => {
    const directory = await unreadableFirst();
    const r = run(directory);
    await trackAndFlush(r);
    await r.client.shutdown({ timeoutMs: 2_000 });
    expect((await r.client.stats()).dropped.unsaved).toBe(3);
    expect(existsSync(installIdPath(directory))).toBe(false);
  });
});

describe('a remembered denial where the file outbox fell back to memory', () => {
  /** Writes in the directory fail (a read-only mount, chmod 555): reads work. */
  function readOnly(directory: string): void {
    const open = fs.open.bind(fs);
    vi.spyOn(fs, 'open').mockImplementation(async (file, flags, mode) => {
      if (String(file).startsWith(directory) && flags !== 'r' && flags !== undefined) {
        throw Object.assign(new Error(`EROFS: read-only file system, open '${String(file)}'`), {
          code: 'EROFS',
        });
      }
      return open(file, flags, mode);
    });
  }

  it('is read from the directory: nothing is sent', async () => {
    const directory = tempDir();
    await deniedBefore(directory);
    readOnly(directory);
    const r = run(directory);
    await trackAndFlush(r);
    expect(r.warnings.join(' ')).toContain('kept in memory only');
    expect((await r.client.stats()).consent).toBe('denied');
    expect(r.received).toEqual([]);
  });

  it('a consent set in that run is not undone by the older one the read-only file still holds', async () => {
    const directory = tempDir();
    await deniedBefore(directory);
    readOnly(directory);
    const reads = vi.spyOn(fs, 'readFile');
    const consentReads = (): number =>
      reads.mock.calls.filter(([file]) => String(file) === consentPath(directory)).length;
    const r = run(directory);
    await until(async () => (await r.client.stats()).consent === 'denied', 5_000, 'the denial');
    r.client.setConsent('granted');
    r.client.track('granted.here');
    await until(() => r.received.length === 1, 10_000, 'the event sent');
    // It could not be remembered, and says so.
    await until(() => r.warnings.some((w) => w.includes('could not remember the consent')), 5_000, 'warning');
    // The watch has looked again since (and seen the old denial on disk): still granted.
    const before = consentReads();
    await until(() => consentReads() > before + 1, 10_000, 'two more looks');
    expect((await r.client.stats()).consent).toBe('granted');
  });
});

describe('no remembered consent', () => {
  it('a first run is not held: the consent option applies', async () => {
    const r = run(path.join(tempDir(), 'new'));
    await trackAndFlush(r);
    expect(r.received).toHaveLength(3);
    expect(r.warnings).toEqual([]);
  });

  it('a directory that cannot hold one (a path through a file) is a first run, not an unreadable one', async () => {
    const file = path.join(tempDir(), 'a-file');
    writeFileSync(file, 'x');
    const r = run(path.join(file, 'outbox'));
    await trackAndFlush(r);
    expect(r.received).toHaveLength(3);
    expect(unreadableWarnings(r)).toEqual([]);
  });
});
