import { describe, expect, it } from 'vitest';
import type { Logger } from '../logger.js';
import { capturingClient } from './telemetry.test-helpers.js';

/** A logger that keeps its warnings' messages. */
function warnings(): { logger: Logger; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    logger: { debug: () => {}, warn: (message: string) => void seen.push(message), error: () => {} },
  };
}

describe("identify()'s id", () => {
  it('a placeholder (a lookup that failed) is ignored with a warning: the events stay under the id they had', async () => {
    const { logger, seen } = warnings();
    const { client, received } = capturingClient({ logger });
    const user: object = { id: 7 };
    const ids = [String(undefined), ' NULL ', String(user), 'NaN', 'true', 'False'];
    // Invisible characters around a placeholder, and Python's str(None).
    ids.push('undefined\u200b', '\ufeffnull', 'un\u200ddefined', '\u2060NaN\u200c', 'None');
    for (const id of ids) expect(() => client.identify(id)).not.toThrow();
    client.track('after');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 0 });
    expect(received.map((e) => [e.event, e.distinct_id])).toEqual([['after', 'u1']]);
    expect(seen).toHaveLength(ids.length);
    for (const message of seen) expect(message).toMatch(/^identify ignored: its id must be a real id/);
  });

  it("a wrong type is named as identify's id, not as the distinctId option", async () => {
    const { logger, seen } = warnings();
    const { client } = capturingClient({ logger });
    client.identify(5 as unknown as string);
    await client.shutdown({ timeoutMs: 0 });
    expect(seen).toEqual([
      'identify ignored: its id must be a non-empty string of at most 200 characters, got 5',
    ]);
    expect(seen.join('\n')).not.toMatch(/distinctId/);
  });

  it('. and .. are ignored with a warning (the Homing server refuses them: every event would be dead-lettered)', async () => {
    const { logger, seen } = warnings();
    const { client, received } = capturingClient({ logger });
    for (const id of ['.', '..', ' .. ']) client.identify(id);
    client.identify('...');
    client.track('after');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 0 });
    expect(received.map((e) => [e.event, e.distinct_id])).toEqual([
      ['$identify', '...'],
      ['after', '...'],
    ]);
    expect(seen).toHaveLength(3);
    for (const message of seen)
      expect(message).toMatch(/^identify ignored: its id must not be "\.\.?": URLs read it/);
  });

  it('a real id that only contains a placeholder word is accepted', async () => {
    const { client, received } = capturingClient();
    client.identify('null-pointer-42');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 0 });
    expect(received.map((e) => e.distinct_id)).toEqual(['null-pointer-42']);
  });
});
