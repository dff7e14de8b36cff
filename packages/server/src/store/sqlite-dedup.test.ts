import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import { ev } from './store.contract.js';

const POOL = Array.from(
  { length: 40 },
  (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
);

type Step =
  | { kind: 'insert'; store: 0 | 1; project: 0 | 1; ids: number[] }
  | { kind: 'pair'; a: number[]; b: number[] }
  | { kind: 'read'; store: 0 | 1 };

const ids = fc.array(fc.integer({ min: 0, max: POOL.length - 1 }), { minLength: 0, maxLength: 12 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    store: fc.constantFrom(0 as const, 1 as const),
    project: fc.constantFrom(0 as const, 1 as const),
    ids,
  }),
  fc.record({ kind: fc.constant('pair' as const), a: ids, b: ids }),
  fc.record({ kind: fc.constant('read' as const), store: fc.constantFrom(0 as const, 1 as const) }),
);

describe('SqliteStore duplicates count', () => {
  it('is exact against a model, with two connections, pending log rows and background expansion', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const dataDir = tempDir();
        const opts = { dataDir, expandChunkEvents: 3, maxPendingEvents: 20 };
        const stores = [await openSqlite(opts), await openSqlite(opts)] as const;
        const projects = [await stores[0].createProject('a'), await stores[0].createProject('b')];
        const model = [new Set<string>(), new Set<string>()];
        const batch = (list: number[], uppercase = false) =>
          list.map((i) => ev({ uuid: uppercase ? POOL[i]!.toUpperCase() : POOL[i]!, properties: { i } }));
        try {
          for (const s of steps) {
            if (s.kind === 'insert') {
              const r = await stores[s.store].insertEvents(
                projects[s.project]!.id,
                batch(s.ids, s.store === 1),
              );
              const fresh = new Set(s.ids.map((i) => POOL[i]!).filter((u) => !model[s.project]!.has(u)));
              expect(r).toEqual({ accepted: fresh.size, duplicates: s.ids.length - fresh.size, erased: 0 });
              fresh.forEach((u) => model[s.project]!.add(u));
            } else if (s.kind === 'pair') {
              const [ra, rb] = await Promise.all([
                stores[0].insertEvents(projects[0]!.id, batch(s.a)),
                stores[1].insertEvents(projects[0]!.id, batch(s.b)),
              ]);
              const fresh = new Set([...s.a, ...s.b].map((i) => POOL[i]!).filter((u) => !model[0]!.has(u)));
              expect(ra.accepted + rb.accepted).toBe(fresh.size);
              expect(ra.accepted + ra.duplicates + rb.accepted + rb.duplicates).toBe(s.a.length + s.b.length);
              fresh.forEach((u) => model[0]!.add(u));
            } else {
              for (const [p, set] of model.entries()) {
                const stored = await stores[s.store].queryEvents({ projectId: projects[p]!.id, limit: 1000 });
                expect(stored.map((e) => e.uuid.toLowerCase()).sort()).toEqual([...set].sort());
              }
            }
          }
          for (const [p, set] of model.entries()) {
            const stored = await stores[0].queryEvents({ projectId: projects[p]!.id, limit: 1000 });
            expect(stored).toHaveLength(set.size);
          }
        } finally {
          for (const s of stores) await s.close();
          rmSync(dataDir, { recursive: true, force: true });
        }
      }),
      { numRuns: 150 },
    );
    // 300 stores, each starting and stopping its expander worker: a ceiling, not a timing assert.
  }, 300_000);
});
