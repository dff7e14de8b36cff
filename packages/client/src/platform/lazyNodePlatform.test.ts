import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { drain, makeRecords } from '../outbox/outbox.contract.js';
import type { DeferredOutbox } from '../outbox/DeferredOutbox.js';
import { createLazyNodePlatform } from './lazyNodePlatform.js';
import { createNodePlatform, type NodePlatformOptions } from './node.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('lazy Node platform (what detectPlatform gives under Node)', () => {
  it('reads the environment, is online, has no unload send, and hooks beforeExit', () => {
    process.env.HOMING_LAZY_TEST = 'yes';
    const p = createLazyNodePlatform();
    expect(p.name).toBe('node');
    expect(p.env('HOMING_LAZY_TEST')).toBe('yes');
    expect(p.env('HOMING_LAZY_NOPE')).toBeUndefined();
    expect(p.isOnline()).toBe(true);
    expect(p.sendOnUnload).toBeNull();
    const before = process.listenerCount('beforeExit');
    const off = p.onExit(() => {
      throw new Error('never into the host');
    });
    expect(process.listenerCount('beforeExit')).toBe(before + 1);
    expect(() => process.emit('beforeExit', 0)).not.toThrow();
    off();
    expect(process.listenerCount('beforeExit')).toBe(before);
    delete process.env.HOMING_LAZY_TEST;
  });

  it('gzips with zlib once loaded', async () => {
    const p = createLazyNodePlatform();
    expect(p.canGzip).toBe(true);
    const body = JSON.stringify({ batch: 'x'.repeat(5000) });
    expect(gunzipSync(await p.gzip(body)).toString('utf8')).toBe(body);
  });

  it('gives a file outbox: appends made before it loaded are kept, in order, on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-lazy-'));
    dirs.push(dir);
    const p = createLazyNodePlatform();
    const outbox = p.createDefaultOutbox({ name: 'app', directory: dir });
    const records = makeRecords(5);
    outbox.append(records.slice(0, 2));
    outbox.append(records.slice(2));
    expect(await drain(outbox)).toEqual(records.map((r) => r.uuid));
    await outbox.persist();
    expect((await readdir(dir)).length).toBeGreaterThan(0);
    await outbox.close();
  });

  it('falls back to a memory outbox when the Node platform cannot be loaded, and says why', async () => {
    const broken = new Error('module not found');
    const p = createLazyNodePlatform(() => Promise.reject(broken));
    const outbox = p.createDefaultOutbox({ name: 'app' }) as DeferredOutbox;
    const records = makeRecords(3);
    outbox.append(records);
    expect(await drain(outbox)).toEqual(records.map((r) => r.uuid));
    expect(outbox.loadError).toBe(broken);
    await expect(p.gzip('x')).rejects.toBe(broken);
    await outbox.close();
  });

  it('close() closes the Node platform once it is loaded, and loads nothing to close one never used', async () => {
    let loads = 0;
    let closes = 0;
    const load = async () => {
      loads++;
      return {
        createNodePlatform: (o?: NodePlatformOptions) => ({
          ...createNodePlatform(o),
          close: () => void closes++,
        }),
      };
    };
    createLazyNodePlatform(load).close?.();
    const used = createLazyNodePlatform(load);
    await used.gzip('x');
    expect(loads).toBe(1);
    used.close?.();
    while (closes === 0) await new Promise((resolve) => setImmediate(resolve));
    expect([loads, closes]).toEqual([1, 1]);
  });
});
