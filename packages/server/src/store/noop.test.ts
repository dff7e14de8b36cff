import { describe, expect, it } from 'vitest';
import { NoopStore } from './noop.js';
import { ev } from './store.contract.js';

describe('NoopStore', () => {
  it('accepts every event and stores none', async () => {
    const store = new NoopStore();
    const { project } = (await store.findProjectByKey(store.project.writeKey))!;
    expect(await store.insertEvents(project.id, [ev(), ev()])).toEqual({
      accepted: 2,
      duplicates: 0,
      erased: 0,
    });
    expect(await store.queryEvents({ projectId: project.id, limit: 10 })).toEqual([]);
    expect(await store.findProjectByKey('hw_other')).toBeNull();
    await store.close();
    await expect(store.insertEvents(project.id, [ev()])).rejects.toMatchObject({ kind: 'closed' });
  });
});
