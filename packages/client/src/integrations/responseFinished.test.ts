import { createServer, request, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { responseFinished, type ExpressResponseLike } from './expressRequestState.js';
import { listen } from './integrations.test-helpers.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

const fake = (fields: Record<string, unknown>): ExpressResponseLike =>
  ({ statusCode: 200, on: () => undefined, ...fields }) as ExpressResponseLike;

describe('responseFinished', () => {
  it("reads Node's fields as its writableFinished getter does", () => {
    expect(responseFinished(fake({ finished: false, outputSize: 0, socket: null }))).toBe(false);
    expect(responseFinished(fake({ finished: true, outputSize: 12, socket: null }))).toBe(false);
    expect(responseFinished(fake({ finished: true, outputSize: 0, socket: null }))).toBe(true);
    expect(responseFinished(fake({ finished: true, outputSize: 0, socket: { writableLength: 3 } }))).toBe(
      false,
    );
    expect(responseFinished(fake({ finished: true, outputSize: 0, socket: { writableLength: 0 } }))).toBe(
      true,
    );
  });

  it('answers the writableFinished of a response without those fields, and survives junk', () => {
    expect(responseFinished(fake({ writableFinished: true }))).toBe(true);
    expect(responseFinished(fake({ writableFinished: false }))).toBe(false);
    expect(responseFinished(fake({}))).toBeUndefined();
    expect(responseFinished(fake({ finished: 'yes', outputSize: 0, writableFinished: false }))).toBe(false);
    expect(responseFinished(fake({ finished: true, outputSize: '0', writableFinished: true }))).toBe(true);
  });

  it("agrees with Node's own getter when a response closes, answered or aborted", async () => {
    const seen: { path: string; ours: boolean | undefined; node: boolean }[] = [];
    const server = createServer((req, res: ServerResponse) => {
      res.on('close', () => {
        seen.push({
          path: req.url!,
          ours: responseFinished(res as ExpressResponseLike),
          node: res.writableFinished,
        });
      });
      if (req.url === '/answered') res.end('ok');
      // '/hang' is never answered: the client goes away.
    });
    const { url, close } = await listen(server);
    closers.push(close);
    await (await fetch(`${url}/answered`)).text();
    await new Promise<void>((resolve) => {
      const r = request(`${url}/hang`);
      r.on('error', () => resolve());
      r.end();
      setTimeout(() => r.destroy(), 50);
    });
    const deadline = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen.find((s) => s.path === '/answered')).toEqual({ path: '/answered', ours: true, node: true });
    expect(seen.find((s) => s.path === '/hang')).toEqual({ path: '/hang', ours: false, node: false });
  });
});
