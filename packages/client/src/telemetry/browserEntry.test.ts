import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.js';
import { IndexedDBOutbox } from '../outbox/indexeddb.js';
import { MemoryStorage } from '../outbox/localStorage/memoryStorage.test-helpers.js';
import { consentCopyKey } from './identityLocalStorage.js';
import { browserRuntime } from './runtime.browser.js';
import { Sink, sinkEvents, testPlatform } from './telemetry.test-helpers.js';

const src = fileURLToPath(new URL('..', import.meta.url));

/**
 * Every file reachable from `entry` through relative imports, and the bare specifiers it imports
 * (type-only imports, `typeof import('x')` included, are erased by the compiler: not followed).
 */
function importGraph(entry: string): { files: Set<string>; bare: Map<string, string> } {
  const files = new Set<string>();
  const bare = new Map<string, string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:^|\n)\s*(?:import|export)\s(?:type\s)?[^'"]*?from\s+'([^']+)'|(?<!typeof )import\('([^']+)'\)/g,
    )) {
      if (/^\s*(?:import|export)\s+type\s/.test(m[0].trim())) continue;
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
      else bare.set(spec, path.relative(src, file));
    }
  };
  visit(entry);
  return { files, bare };
}

describe('the browser entry (index.ts)', () => {
  it('never reaches node:* or Node-only files, so a browser bundle does not pull them in', () => {
    const { files, bare } = importGraph(path.join(src, 'index.ts'));
    const nodeImports = [...bare].filter(
      ([spec]) =>
        spec.startsWith('node:') ||
        (!spec.includes('/') && ['fs', 'os', 'path', 'zlib', 'crypto'].includes(spec)),
    );
    expect(nodeImports).toEqual([]);
    expect(
      [...files]
        .map((f) => path.relative(src, f))
        .filter((f) => f.includes('.node.') || f.includes('file-log')),
    ).toEqual([]);
    // The Node entry does reach them (the graph walk sees through re-exports).
    expect([...importGraph(path.join(src, 'index.node.ts')).bare.keys()]).toContain('node:fs');
  });

  it("refuses 'file' storage with an error naming the option", () => {
    expect(() =>
      createTelemetry({
        endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:9', key: 'k' }],
        storage: 'file',
      }),
    ).toThrow(expect.objectContaining({ kind: 'telemetry-option', option: 'storage' }));
  });

  it('hands the browser keys of `outbox` to the IndexedDB outbox, whose checks name a bad one', () => {
    const make = (outbox: Parameters<typeof createTelemetry>[0]['outbox']) => () =>
      createTelemetry({
        endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:9', key: 'k' }],
        storage: 'indexeddb',
        name: `tuning-test-${Date.now()}`,
        platform: testPlatform(),
        outbox,
      });
    expect(make({ leaseMs: 5 })).toThrow(expect.objectContaining({ option: 'outbox.leaseMs' }));
    expect(make({ persistIntervalMs: -1 })).toThrow(
      expect.objectContaining({ option: 'outbox.persistIntervalMs' }),
    );
    // The IndexedDB outbox's own bound, renamed on the way out.
    expect(make({ persistIntervalMs: 60_001 })).toThrow(
      expect.objectContaining({ option: 'outbox.persistIntervalMs' }),
    );
    // The file outbox's keys are not used here (one config serves Node and browsers), but a
    // wrong value of one is still a mistake in that config.
    const t = make({ persistIntervalMs: 0, flushEvents: 1, maxSegmentBytes: 4096, flushOnHide: false })();
    void t.shutdown({ timeoutMs: 0 });
    expect(make({ maxSegmentBytes: 1 })).toThrow(
      expect.objectContaining({ option: 'outbox.maxSegmentBytes' }),
    );
  });

  it('defaults to IndexedDB wherever it exists (pages and workers)', () => {
    expect(browserRuntime.defaultStorage({ ...testPlatform(), name: 'browser' })).toBe('indexeddb');
    expect(browserRuntime.defaultStorage({ ...testPlatform(), name: 'other' })).toBe('indexeddb');
  });

  it('tracks into an IndexedDB outbox and delivers from it', async () => {
    const sink = await Sink.start();
    try {
      const t = createTelemetry({
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        storage: 'indexeddb',
        name: `entry-test-${Date.now()}`,
        platform: testPlatform(),
        delivery: { intervalMs: 20 },
      });
      t.track('from.the.browser.entry', { email: 'a@b.example' });
      await t.flush({ timeoutMs: 15_000 });
      await t.shutdown({ timeoutMs: 5_000 });
      const [e] = sinkEvents(sink);
      expect(e!.event).toBe('from.the.browser.entry');
      expect(e!.properties.email).toBe('[REDACTED]');
      expect(IndexedDBOutbox).toBeTypeOf('function');
    } finally {
      await sink.down();
    }
  });

  it('unnamed clients with different endpoints keep apart; a denial the shared `default` remembered still holds', async () => {
    const g = globalThis as { localStorage?: unknown };
    const before = g.localStorage;
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const app = await Sink.start();
    const widget = await Sink.start();
    try {
      const make = (sink: Sink, key: string) =>
        createTelemetry({
          endpoints: [{ destination: 'homing', host: sink.url, key }],
          storage: 'indexeddb',
          platform: testPlatform(),
          respectDoNotTrack: false,
          delivery: { intervalMs: 20 },
        });
      const a = make(app, `app-${Date.now()}`);
      const w = make(widget, `widget-${Date.now()}`);
      a.track('app.event');
      w.track('widget.event');
      await a.flush({ timeoutMs: 15_000 });
      await w.flush({ timeoutMs: 15_000 });
      await a.shutdown({ timeoutMs: 5_000 });
      await w.shutdown({ timeoutMs: 5_000 });
      expect(sinkEvents(app).map((e) => e.event)).toEqual(['app.event']);
      expect(sinkEvents(widget).map((e) => e.event)).toEqual(['widget.event']);
      expect(sinkEvents(app)[0]!.distinct_id).not.toBe(sinkEvents(widget)[0]!.distinct_id);

      // An earlier version kept every unnamed client's consent under `default`: a user's no.
      storage.setItem(consentCopyKey('default'), 'denied');
      const later = make(app, `later-${Date.now()}`);
      later.track('after.denial');
      await later.flush({ timeoutMs: 1_000 });
      expect((await later.stats()).dropped.consent).toBe(1);
      await later.shutdown({ timeoutMs: 5_000 });
      expect(sinkEvents(app).map((e) => e.event)).toEqual(['app.event']);

      // A denial under an earlier endpoint list's name (a rotated key) holds for the new name.
      storage.removeItem(consentCopyKey('default'));
      const first = make(app, `rotating-${Date.now()}`);
      first.setConsent('denied');
      await first.shutdown({ timeoutMs: 5_000 });
      const rotated = make(app, `rotated-${Date.now()}`);
      rotated.track('after.rotation');
      await rotated.flush({ timeoutMs: 1_000 });
      expect((await rotated.stats()).consent).toBe('denied');
      await rotated.shutdown({ timeoutMs: 5_000 });
      expect(sinkEvents(app).map((e) => e.event)).toEqual(['app.event']);
    } finally {
      g.localStorage = before;
      await app.down();
      await widget.down();
    }
  });
});
