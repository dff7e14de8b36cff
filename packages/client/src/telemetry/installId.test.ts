import { mkdtempSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import { createFileOutbox } from '../outbox/node.js';
import { IDENTITY_STATE_KEY } from './identityStore.js';
import { INSTALL_ID_STATE_KEY, loadInstallId } from './installId.js';
import { INSTALL_ID_FILE, installIdFile } from './installIdFile.node.js';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

describe('the anonymous install id', () => {
  let sink: Sink;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-install-'));
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(async () => {
    await sink.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is the same for two clients, one after the other, on one outbox directory', async () => {
    const directory = path.join(dir, 'sequential');
    for (const run of ['first', 'second']) {
      const t = clientFor(sink, { storage: 'file', directory });
      t.track(run);
      await t.shutdown({ timeoutMs: 10_000 });
    }
    const [a, b] = sinkEvents(sink);
    expect(a!.event).toBe('first');
    expect(b!.distinct_id).toBe(a!.distinct_id);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(a!.distinct_id);
    sink.requests.length = 0;
  });

  it('is the same for clients starting at once on one directory (created exclusively)', async () => {
    const directory = path.join(dir, 'concurrent');
    const ids = await Promise.all(Array.from({ length: 8 }, () => installIdFile(directory)()));
    expect(new Set(ids).size).toBe(1);
    expect((await fs.readdir(directory)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces a damaged install-id file instead of failing', async () => {
    const directory = path.join(dir, 'damaged');
    await fs.mkdir(directory, { recursive: true });
    writeFileSync(path.join(directory, INSTALL_ID_FILE), '\u0000garbage!!');
    const id = await installIdFile(directory)();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await installIdFile(directory)()).toBe(id);
  });

  it('leaves an empty file just made alone (another process may be writing it), and replaces an old one', async () => {
    const directory = path.join(dir, 'empty');
    await fs.mkdir(directory, { recursive: true });
    const file = path.join(directory, INSTALL_ID_FILE);
    writeFileSync(file, '');
    expect(() => installIdFile(directory)()).toThrow(/could not create/);
    expect(await fs.readFile(file, 'utf8')).toBe('');
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(file, old, old);
    const id = installIdFile(directory)();
    expect((await fs.readFile(file, 'utf8')).trim()).toBe(id);
    // Dated ahead of this clock (another host's, on a share): not one being written now.
    await fs.writeFile(file, '');
    const ahead = new Date(Date.now() + 3_600_000);
    await fs.utimes(file, ahead, ahead);
    expect(installIdFile(directory)()).toBe((await fs.readFile(file, 'utf8')).trim());
  });

  it('repairs an install-id that is a symbolic link to garbage', async () => {
    const directory = path.join(dir, 'linked');
    await fs.mkdir(directory, { recursive: true });
    const target = path.join(dir, 'linked-target');
    writeFileSync(target, 'garbage');
    await fs.symlink(target, path.join(directory, INSTALL_ID_FILE));
    const id = installIdFile(directory)();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(installIdFile(directory)()).toBe(id);
  });

  it('an install-id that is a symbolic link is not read through: replaced by an id, its target untouched', async () => {
    const directory = path.join(dir, 'linked-secret');
    await fs.mkdir(directory, { recursive: true });
    const target = path.join(dir, 'secret.txt');
    writeFileSync(target, 'My-secret-api-token-12345\n');
    await fs.symlink(target, path.join(directory, INSTALL_ID_FILE));
    const id = installIdFile(directory)();
    // Before, the target's text passed for an id and went out as every event's distinct_id.
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(installIdFile(directory)()).toBe(id);
    expect((await fs.lstat(path.join(directory, INSTALL_ID_FILE))).isFile()).toBe(true);
    expect(await fs.readFile(target, 'utf8')).toBe('My-secret-api-token-12345\n');
  });

  it('an install-id file holding the placeholder undefined is damaged: replaced by an id', async () => {
    const directory = path.join(dir, 'placeholder');
    await fs.mkdir(directory, { recursive: true });
    writeFileSync(path.join(directory, INSTALL_ID_FILE), 'undefined\n');
    // Before, it passed for an id: every event of the install went out as distinct_id 'undefined'.
    const id = installIdFile(directory)();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(id);
  });

  it('replaces a damaged file with a UUIDv7 of the damaged file, leaving no temporary file', async () => {
    const directory = path.join(dir, 'derived');
    await fs.mkdir(directory, { recursive: true });
    writeFileSync(path.join(directory, INSTALL_ID_FILE), 'garbage');
    const modified = new Date('2026-01-02T03:04:05.678Z');
    await fs.utimes(path.join(directory, INSTALL_ID_FILE), modified, modified);
    const id = await installIdFile(directory)();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Its time is the damaged file's, the same for every process that found it damaged.
    const idMs = parseInt(String(id).replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(idMs - modified.getTime())).toBeLessThanOrEqual(1);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(id);
    expect(await fs.readdir(directory)).toEqual([INSTALL_ID_FILE]);
  });

  it('is read at construction on Node, so a burst of events at start waits for nothing', async () => {
    const t = clientFor(sink, {
      storage: 'file',
      directory: path.join(dir, 'burst'),
      delivery: { intervalMs: 60_000 },
    });
    for (let i = 0; i < 25_000; i++) t.track('burst', { i });
    await t.persist();
    const stats = await t.stats();
    await t.shutdown({ timeoutMs: 0 });
    expect(stats.queued).toBe(25_000);
    expect(stats.dropped.overflow).toBe(0);
    sink.requests.length = 0;
  });

  it("is kept beside the files of a file outbox the app made itself, taking over the ids an earlier version kept in that outbox's state", async () => {
    const directory = path.join(dir, 'own-outbox');
    // An earlier version kept both ids in the state of an app's own file outbox.
    const earlier = createFileOutbox({ directory });
    const oldId = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    await earlier.setState(INSTALL_ID_STATE_KEY, oldId);
    await earlier.setState(IDENTITY_STATE_KEY, 'user-9');
    await earlier.close();

    const own = createFileOutbox({ directory });
    const t = clientFor(sink, { storage: own });
    t.track('as-user'); // built at once: the identity is read synchronously
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(oldId);
    t.reset();
    t.track('anonymous');
    await t.shutdown({ timeoutMs: 10_000 });
    await own.close();
    const events = sinkEvents(sink).map((e) => [e.event, e.distinct_id]);
    expect(events[0]).toEqual(['as-user', 'user-9']);
    // A new install id after the logout (the old one is user-9's), kept in the file.
    const renewed = events[1]![1]!;
    expect(events[1]![0]).toBe('anonymous');
    expect(renewed).not.toBe(oldId);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(renewed);
    // storage: 'file' on the same directory is the same install.
    const t2 = clientFor(sink, { storage: 'file', directory });
    t2.track('file-storage');
    await t2.shutdown({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).at(-1)!.distinct_id).toBe(renewed);
    sink.requests.length = 0;
  });

  it('lives in the outbox state for other storages, stable across clients', async () => {
    const outbox = createMemoryOutbox();
    const a = await loadInstallId(outbox);
    expect(await loadInstallId(outbox)).toBe(a);
    expect(await outbox.getState(INSTALL_ID_STATE_KEY)).toBe(a);
    for (const run of ['x', 'y']) {
      const t = clientFor(sink, { storage: outbox });
      t.track(run);
      await t.shutdown({ timeoutMs: 10_000 });
    }
    expect(sinkEvents(sink).map((e) => e.distinct_id)).toEqual([a, a]);
    await outbox.close();
  });

  it('is not made while consent is denied (by the options or remembered); granting later makes it and events flow', async () => {
    const directory = path.join(dir, 'denied');
    const hasId = async () => (await fs.readdir(directory)).includes(INSTALL_ID_FILE);
    sink.requests.length = 0;
    // Denied by the options, then by the user (remembered): events are dropped, no id is stored.
    const first = clientFor(sink, { storage: 'file', directory, consent: 'denied' });
    first.track('dropped');
    first.setConsent('denied');
    await first.shutdown({ timeoutMs: 2_000 });
    expect(await hasId()).toBe(false);
    // Next run, default options: the remembered denial is read at construction.
    const second = clientFor(sink, { storage: 'file', directory });
    second.track('dropped.too');
    await second.persist();
    expect(await hasId()).toBe(false);
    second.setConsent('granted');
    second.track('after.grant');
    await second.shutdown({ timeoutMs: 10_000 });
    const id = (await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim();
    expect(sinkEvents(sink).map((e) => [e.event, e.distinct_id])).toEqual([['after.grant', id]]);
    sink.requests.length = 0;
  });

  it('made after a late grant from a storage that answers later: events tracked meanwhile wait for it and keep their order', async () => {
    sink.requests.length = 0;
    const outbox = createMemoryOutbox();
    const t = clientFor(sink, { storage: outbox, consent: 'denied' });
    await t.flush({ timeoutMs: 2_000 });
    expect(await outbox.getState(INSTALL_ID_STATE_KEY)).toBeUndefined();
    t.setConsent('granted');
    t.track('first');
    t.track('second');
    await t.flush({ timeoutMs: 10_000 });
    const id = await outbox.getState(INSTALL_ID_STATE_KEY);
    expect(typeof id).toBe('string');
    expect(sinkEvents(sink).map((e) => [e.event, e.distinct_id])).toEqual([
      ['first', id],
      ['second', id],
    ]);
    await t.shutdown({ timeoutMs: 2_000 });
    await outbox.close();
    sink.requests.length = 0;
  });

  it('falls back to an id for this run when the storage cannot keep one; events still flow', async () => {
    const outbox = createMemoryOutbox();
    outbox.getState = () => Promise.reject(new Error('storage broken'));
    // Consent not remembered: a remembered one that cannot be read holds events (consentUnreadable.test.ts).
    const t = clientFor(sink, { storage: outbox, rememberConsent: false });
    t.track('still.sent');
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).at(-1)!.event).toBe('still.sent');
    await t.shutdown({ timeoutMs: 2_000 });
    await outbox.close();
  });
});

describe('a transient failure reading the install id', () => {
  const failing = (code: string, times: number, then: () => string) => {
    let calls = 0;
    const store = () => {
      calls++;
      if (calls <= times) throw Object.assign(new Error(`${code}: failed`), { code });
      return then();
    };
    return { store, calls: () => calls };
  };

  it('is read again (EMFILE at start): the run keeps the install id of the file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-iid-retry-'));
    try {
      const file = installIdFile(dir);
      const kept = file();
      const { store, calls } = failing('EMFILE', 2, () => file() as string);
      expect(await loadInstallId(createMemoryOutbox(), store, [1, 1, 1])).toBe(kept);
      expect(calls()).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is not retried when it will not pass (EACCES), nor more than the delays allow', async () => {
    const denied = failing('EACCES', 1, () => 'x'.repeat(36));
    await expect(loadInstallId(createMemoryOutbox(), denied.store, [1, 1, 1])).rejects.toThrow('EACCES');
    expect(denied.calls()).toBe(1);
    const busy = failing('EMFILE', 5, () => 'x'.repeat(36));
    await expect(loadInstallId(createMemoryOutbox(), busy.store, [1, 1])).rejects.toThrow('EMFILE');
    expect(busy.calls()).toBe(3);
  });
});
