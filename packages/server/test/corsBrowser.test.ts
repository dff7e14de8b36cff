import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../../client/test/browser/harness.js';
import { type Running, startServerOn } from './harness.js';

const available = chromiumAvailable();

/** A page server on its own port: its origin is `url`. */
async function pageServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>page</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

// What a page sends without a preflight: sendBeacon and a text/plain fetch. CORS would only hide
// the answer from the page; the server itself must refuse what an origin not allowed sends.
describe.skipIf(!available)('corsOrigins in Chromium: beacons from other origins are not stored', () => {
  let allowed: { url: string; server: Server };
  let other: { url: string; server: Server };
  let s: Running;
  let browser: Browser;

  beforeAll(async () => {
    allowed = await pageServer();
    other = await pageServer();
    s = await startServerOn('sqlite', { corsOrigins: [allowed.url], rateLimit: false });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    allowed?.server.close();
    other?.server.close();
  });

  it('stores what the allowed origin sends and nothing of another origin', async () => {
    const answers: string[] = [];
    for (const [label, origin] of [
      ['allowed', allowed.url],
      ['other', other.url],
    ] as const) {
      const page = await browser.newPage();
      let done = 0;
      page.on('response', (r) => {
        if (r.url().startsWith(s.url)) answers.push(`${label} ${r.status()}`);
      });
      // A fetch whose answer CORS hides from the page ends as a failed request, without a response.
      page.on('requestfinished', (r) => void (r.url().startsWith(s.url) && done++));
      page.on('requestfailed', (r) => void (r.url().startsWith(s.url) && done++));
      await page.goto(origin);
      const queued = await page.evaluate(
        ({ api, key, label }) => {
          const body = (event: string) =>
            JSON.stringify({ api_key: key, batch: [{ event, distinct_id: 'b' }] });
          const beacon = navigator.sendBeacon(`${api}/batch/`, body(`beacon-${label}`));
          void fetch(`${api}/batch/`, {
            method: 'POST',
            headers: { 'content-type': 'text/plain' },
            body: body(`fetch-${label}`),
          }).catch(() => undefined);
          return beacon;
        },
        { api: s.url, key: s.project.writeKey, label },
      );
      expect(queued).toBe(true);
      await expect.poll(() => done, { timeout: 10_000 }).toBe(2);
      await page.close();
    }
    expect(answers.filter((a) => a.startsWith('allowed'))).toEqual(['allowed 200', 'allowed 200']);
    // The beacon's answer (the page cannot read it, the browser sees it): refused.
    expect(answers).toContain('other 403');
    expect(answers).not.toContain('other 200');
    // Before, both of the other origin's were stored too.
    expect((await s.events()).map((e) => e.event).sort()).toEqual(['beacon-allowed', 'fetch-allowed']);
  });
});
