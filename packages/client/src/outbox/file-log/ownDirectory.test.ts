import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  promises as fs,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../logger.js';
import { INSTALL_ID_FILE } from '../../telemetry/installIdFile.node.js';
import { IDENTITY_FILE } from '../../telemetry/identityFile.node.js';
import { clientFor, Sink, sinkEvents, until } from '../../telemetry/telemetry.test-helpers.js';
import { createFileOutbox } from './createFileOutbox.js';
import { FileOutbox } from './FileOutbox.js';
// From the public entry: an app that gets it as a `cause` must be able to tell it by instanceof.
import { UnsafeDirectoryError } from '../../index.node.js';

/**
 * An outbox directory in a shared place that another account made first, or that others can
 * write in: refused (memory takes over, tried again), and nothing in it is taken (consent,
 * install id, identity, queued events, endpoints). Real directories, chmod-ed and chown-ed;
 * another owner needs root.
 */
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const posix = process.platform !== 'win32';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh parent anyone may look into, as /tmp is. */
function parentDir(): string {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'homing-own-dir-'));
  chmodSync(parent, 0o755);
  cleanups.push(() => fs.rm(parent, { recursive: true, force: true }));
  return parent;
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug() {},
    warn: (message: string, fields?: Record<string, unknown>) =>
      void warnings.push(fields?.error === undefined ? message : `${message} ${String(fields.error)}`),
    error() {},
  };
}

async function startSink(): Promise<Sink> {
  const sink = await Sink.start(() => ({ status: 202, body: '{}' }));
  cleanups.push(() => sink.down());
  return sink;
}

const PLANTED_ID = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

/**
 * What a squatter leaves in `directory` before the app first runs: a queued event, a remembered
 * 'granted', an install id and an identity of its choosing; then the directory, everything in
 * it, made `owner`'s, the directory with `mode`.
 */
async function squat(directory: string, owner: number, mode: number): Promise<void> {
  const outbox = new FileOutbox({ directory });
  outbox.append([
    {
      uuid: '01900000-0000-7000-8000-00000000beef',
      json: JSON.stringify({
        uuid: '01900000-0000-7000-8000-00000000beef',
        event: 'planted.event',
        distinct_id: 'x',
      }),
      timestampMs: Date.now(),
    },
  ]);
  await outbox.setState('consent', 'granted');
  await outbox.close();
  writeFileSync(path.join(directory, INSTALL_ID_FILE), `${PLANTED_ID}\n`);
  writeFileSync(path.join(directory, IDENTITY_FILE), 'chosen-by-someone-else\n');
  for (const name of ['.', ...(await fs.readdir(directory, { recursive: true }))]) {
    chownSync(path.join(directory, name), owner, owner);
  }
  chmodSync(directory, mode);
}

/** `error`, its cause, that one's, ... */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && chain.length < 10; e = (e as { cause?: unknown }).cause)
    chain.push(e);
  return chain;
}

/** Entries under `directory` owned by this process's user: what the app wrote there. */
async function writtenByUs(directory: string): Promise<string[]> {
  const names = await fs.readdir(directory, { recursive: true });
  return names.filter((name) => statSync(path.join(directory, name)).uid === process.geteuid!());
}

describe.runIf(asRoot && posix)('an outbox directory another account made first (a shared place)', () => {
  it("the audit's case: its planted 'granted' does not override the app's 'denied'; nothing is sent or written there", async () => {
    const directory = path.join(parentDir(), 'acme-telemetry');
    mkdirSync(directory);
    await squat(directory, NOBODY, 0o777);
    const sink = await startSink();
    const logger = recordingLogger();
    const t = clientFor(sink, { storage: 'file', directory, consent: 'denied', logger });
    t.track('private_event', { note: 'the app asked for denied' });
    await t.flush({ timeoutMs: 2_000 });
    const stats = await t.stats();
    await t.shutdown({ timeoutMs: 2_000 });
    expect(stats.consent).toBe('denied');
    expect(sinkEvents(sink)).toEqual([]);
    const refusal = logger.warnings.find((w) => w.includes('kept in memory only'));
    expect(refusal).toContain(`the outbox directory ${directory} is not this user's alone`);
    expect(refusal).toContain(`belongs to uid ${NOBODY}, not to this process's user, root (uid 0)`);
    expect(refusal).toContain('others can write in it (mode 777)');
    expect(await writtenByUs(directory)).toEqual([]);
  });

  it('granted by the app: its own events go out (from memory) under an id of its own; the planted event, install id and identity are not used', async () => {
    const directory = path.join(parentDir(), 'acme-telemetry');
    mkdirSync(directory);
    await squat(directory, NOBODY, 0o777);
    const sink = await startSink();
    const t = clientFor(sink, { storage: 'file', directory, logger: recordingLogger() });
    t.track('own.event');
    await until(() => sinkEvents(sink).length > 0, 10_000, 'the event sent');
    await t.flush({ timeoutMs: 2_000 });
    await t.shutdown({ timeoutMs: 2_000 });
    const events = sinkEvents(sink);
    expect(events.map((e) => e.event)).toEqual(['own.event']);
    expect(events[0]!.distinct_id).not.toBe(PLANTED_ID);
    expect(events[0]!.distinct_id).not.toBe('chosen-by-someone-else');
    expect(readFileSync(path.join(directory, INSTALL_ID_FILE), 'utf8').trim()).toBe(PLANTED_ID);
    expect(await writtenByUs(directory)).toEqual([]);
  });

  it("root running an app on another user's private outbox: refused (it would leave files there the owner cannot read); the owner's grant does not override the app's 'denied'", async () => {
    const directory = path.join(parentDir(), 'alice-outbox');
    mkdirSync(directory);
    await squat(directory, NOBODY, 0o700);
    const sink = await startSink();
    const logger = recordingLogger();
    const t = clientFor(sink, { storage: 'file', directory, consent: 'denied', logger });
    t.track('as.root');
    await t.flush({ timeoutMs: 2_000 });
    const stats = await t.stats();
    await t.shutdown({ timeoutMs: 2_000 });
    expect(stats.consent).toBe('denied');
    expect(sinkEvents(sink)).toEqual([]);
    const refusal = logger.warnings.find((w) => w.includes('kept in memory only'));
    expect(refusal).toContain(
      `belongs to uid ${NOBODY} (mode 700), not to this process's user, root (uid 0)`,
    );
    expect(refusal).toContain(`if it is uid ${NOBODY}'s outbox, run the app as that user`);
    expect(await writtenByUs(directory)).toEqual([]);
  });
});

describe.runIf(posix)('a directory of the user’s own that others can write in', () => {
  it.each([
    ['group-writable', 0o770, 0o700, 'can write in it (mode 770)'],
    [
      'world-writable with the sticky bit',
      0o1777,
      0o700,
      'can write in it (mode 1777; the sticky bit does not keep them from adding files)',
    ],
    ['with a group-writable state/', 0o700, 0o770, 'can write in it (mode 770)'],
  ])('%s: refused, with the chmod that fixes it; memory takes over', async (_name, mode, stateMode, said) => {
    const directory = path.join(parentDir(), 'outbox');
    mkdirSync(path.join(directory, 'state'), { recursive: true });
    chmodSync(directory, mode);
    chmodSync(path.join(directory, 'state'), stateMode);
    const unsafe = stateMode === 0o700 ? directory : path.join(directory, 'state');
    const logger = recordingLogger();
    const outbox = createFileOutbox({ directory, logger });
    cleanups.push(() => outbox.close());
    outbox.append([{ uuid: 'u1', json: '{"event":"e","uuid":"u1"}', timestampMs: Date.now() }]);
    const persisted = await outbox.persist().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(persisted).toMatchObject({ kind: 'io' });
    expect(causes(persisted).some((c) => c instanceof UnsafeDirectoryError)).toBe(true);
    expect(logger.warnings).toHaveLength(1);
    const me = process.geteuid?.() ?? process.getuid!();
    expect(logger.warnings[0]).toContain(
      `the outbox directory ${unsafe} is not this user's alone: others than its owner (${me === 0 ? 'root (uid 0)' : `uid ${me}`}) ${said}`,
    );
    expect(logger.warnings[0]).toContain(`chmod go-w ${unsafe}`);
    // Still delivered from memory.
    expect((await outbox.claim(10, Infinity))?.records.map((r) => r.uuid)).toEqual(['u1']);
    expect(existsSync(path.join(directory, 'outbox.json'))).toBe(false);
  });

  it('fixed while the app runs (chmod go-w): the file outbox takes over, with what memory held, and the install id is stored', async () => {
    const directory = path.join(parentDir(), 'outbox');
    mkdirSync(directory);
    chmodSync(directory, 0o777);
    const sink = await startSink();
    const logger = recordingLogger();
    // Pending: stored, not sent, so what was tracked first is still in memory at the switch.
    const t = clientFor(sink, {
      storage: 'file',
      directory,
      logger,
      consent: 'pending',
      rememberConsent: false,
    });
    cleanups.push(() => t.shutdown({ timeoutMs: 1_000 }));
    t.track('before.fix');
    await expect(t.persist()).rejects.toMatchObject({ kind: 'io' });
    chmodSync(directory, 0o700);
    const recovered = /^outbox: the directory can be used again; 1 events moved to disk$/;
    await until(() => logger.warnings.some((w) => recovered.test(w)), 15_000, 'the recovery');
    t.track('after.fix');
    await t.persist();
    await until(() => existsSync(path.join(directory, INSTALL_ID_FILE)), 15_000, 'the install id stored');
    t.setConsent('granted');
    await until(() => sinkEvents(sink).length >= 2, 15_000, 'both events sent');
    await t.shutdown({ timeoutMs: 5_000 });
    const events = sinkEvents(sink);
    expect(events.map((e) => e.event)).toEqual(['before.fix', 'after.fix']);
    expect(readFileSync(path.join(directory, INSTALL_ID_FILE), 'utf8').trim()).toBe(events[0]!.distinct_id);
  });
});
