/**
 * The real browser SDKs, posthog-js and Segment's analytics.js, in Chromium against a Homing
 * server: a site on one loopback origin loads each SDK from its npm package's dist files and
 * points it at Homing on another origin (so every request goes through CORS, as on a real site),
 * sends events while the page lives and as it is left (sendBeacon, keepalive, the queue analytics.js
 * keeps for the next page), and the admin API must then hold each event the SDK made exactly once:
 * its name, person, properties and a timestamp near the SDK's own (on the server's clock, when the
 * page's is hours off), also when an answer is lost on the way and the SDK sends the events again
 * or the rate limit puts them off. The page must show no failed request to Homing and no console
 * error but the ones a test provokes, and no request may leave 127.0.0.1 (a proxy takes the others
 * and names them).
 *
 * SQLite only: the SDKs' traffic is the point here, and the stores are compared elsewhere.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../../../client/test/browser/harness.js';
import type { Project } from '../store/store.js';
import { type IngestServer, startIngestServer, until } from './adminApi.test-helpers.js';
import {
  type ApiEvent,
  type NetworkGuard,
  type PageRecord,
  recordPage,
  type SdkSite,
  startNetworkGuard,
  startSdkSite,
  storedEvents,
} from './browserSdks.test-helpers.js';

const available = chromiumAvailable();

/** What the page saw of one event as its SDK made it, kept in localStorage across pages. */
interface MadeEvent {
  uuid: string;
  /** The name Homing stores it under. */
  event: string;
  distinctId: string;
  /** Its properties as the SDK sent them: each must be stored as sent. */
  properties: Record<string, unknown>;
  /** Person properties set with it (`$set`), if any. */
  set?: Record<string, unknown>;
  timestamp: string;
}

const HOUR_MS = 3_600_000;

/** How long events, pages and polls may take on a slow, shared CI machine. */
const SLOW_MS = 60_000;

describe.skipIf(!available)('real browser SDKs against Homing, in Chromium', { timeout: 4 * SLOW_MS }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  /** The server of the current test: `unlimited` unless `start` names another. */
  let homing: IngestServer;
  let unlimited: IngestServer;
  /** Takes one event every 4 s, burst 1: a second message at once is refused (429, PostHog's routes 503). */
  let limited: IngestServer;
  let site: SdkSite;
  let guard: NetworkGuard;
  let browser: Browser;
  let context: BrowserContext;
  /** The current test's project: each test reads only what its own SDK sent. */
  let project: Project;
  let startedMs: number;
  /** How far ahead of the server's clock the current test's pages read the time. */
  let pageClockAheadMs: number;
  /** What each page of the current test showed. */
  const records = new Map<Page, PageRecord>();

  beforeAll(async () => {
    unlimited = await startIngestServer('sqlite', cleanups, { rateLimit: false });
    limited = await startIngestServer('sqlite', cleanups, { rateLimit: { eventsPerSecond: 0.25, burst: 1 } });
    site = await startSdkSite();
    guard = await startNetworkGuard();
    browser = await launchChromium();
  }, SLOW_MS);
  afterAll(async () => {
    await browser?.close();
    await guard?.close();
    await site?.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  afterEach(async () => {
    await context?.close();
    records.clear();
  });

  async function start(name: string, server = unlimited, clockAheadMs = 0): Promise<void> {
    startedMs = Date.now();
    homing = server;
    pageClockAheadMs = clockAheadMs;
    project = await homing.store.createProject(name);
    guard.attempts.length = 0;
    context = await browser.newContext({ proxy: guard.proxy });
    // The clock runs on from there, timers with it, as a device's clock set wrong does.
    if (clockAheadMs !== 0) await context.clock.install({ time: Date.now() + clockAheadMs });
  }

  /** `path` of the site in `page` (a new one when absent), recorded, once its SDK has loaded. */
  async function open(path: string, page?: Page): Promise<Page> {
    page ??= await context.newPage();
    if (!records.has(page)) records.set(page, recordPage(page, homing.url));
    await page.goto(`${site.url}${path}`);
    await page.waitForFunction(() => (window as { sdkReady?: boolean }).sdkReady === true);
    return page;
  }

  async function made(page: Page): Promise<MadeEvent[]> {
    return page.evaluate(() => JSON.parse(localStorage.getItem('made') ?? '[]') as MadeEvent[]);
  }

  async function stored(): Promise<ApiEvent[]> {
    return storedEvents(homing.url, project.adminKey);
  }

  /**
   * Waits until every event the page made (at least `names`) is stored; what was made and stored.
   * `lostOnTheWay`: whether the events still missing never reached Homing (the browser cut the
   * request carrying them); those are then left out of `made`.
   */
  async function allStored(
    page: Page,
    names: string[],
    lostOnTheWay?: (missing: MadeEvent[]) => Promise<boolean>,
  ): Promise<{ made: MadeEvent[]; stored: ApiEvent[] }> {
    let all = await made(page);
    expect(all.map((e) => e.event)).toEqual(expect.arrayContaining(names));
    let missing = all;
    await until(
      async () => {
        const uuids = new Set((await stored()).map((e) => e.uuid));
        missing = all.filter((e) => !uuids.has(e.uuid));
        if (missing.length > 0 && lostOnTheWay !== undefined && (await lostOnTheWay(missing))) {
          all = all.filter((e) => !missing.includes(e));
          missing = [];
        }
        return missing.length === 0;
      },
      () =>
        `the ${all.length} events the SDK made (${all.map((e) => e.event).join(', ')}); ` +
        `not stored: ${missing.map((e) => e.event).join(', ')}; answers seen: ` +
        [...records.values()].flatMap((r) => [...r.answers, ...r.failed]).join(', '),
      SLOW_MS,
    );
    // No page of this context can send anything more once it is closed: a late duplicate of an
    // event would be stored by now.
    await context.close();
    return { made: all, stored: await stored() };
  }

  /** Each event made stored once, as made; nothing stored that was not made. */
  function expectStoredAsMade(made: MadeEvent[], events: ApiEvent[]): void {
    expect(events.map((e) => e.uuid).sort()).toEqual(made.map((e) => e.uuid).sort());
    const doneMs = Date.now();
    for (const m of made) {
      const e = events.find((s) => s.uuid === m.uuid)!;
      expect({ event: e.event, distinct_id: e.distinct_id }).toEqual({
        event: m.event,
        distinct_id: m.distinctId,
      });
      expect(e.properties).toMatchObject(m.properties);
      if (m.set !== undefined) expect(e.properties.$set).toMatchObject(m.set);
      // A sane timestamp: within the test, and near the SDK's own on the server's clock (the skew
      // correction moves it by the transit time only), however far off the page's clock is.
      const at = Date.parse(e.timestamp);
      expect(at).toBeGreaterThanOrEqual(startedMs - 1_000);
      expect(at).toBeLessThanOrEqual(doneMs);
      expect(Math.abs(at - (Date.parse(m.timestamp) - pageClockAheadMs))).toBeLessThan(10_000);
    }
  }

  /** POST requests to `route` the ingest server has answered since it started (its /metrics). */
  async function answeredByHoming(route: string): Promise<number> {
    const text = await (await fetch(`${homing.url}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('homing_http_requests_total{')) continue;
      if (!line.includes(`route="${route}"`) || !line.includes('method="POST"')) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  /**
   * Lets the first POST of `page` to Homing's `path` reach Homing, then cuts its answer (a reset
   * connection, as on a train): the SDK cannot know the events were stored, and must send them
   * again. `answered` holds what Homing answered the cut request.
   */
  async function loseFirstAnswer(page: Page, path: RegExp): Promise<{ answered: number[] }> {
    const cut = { answered: [] as number[] };
    // Taken before the first await: posthog-js may send two requests at once.
    let taken = false;
    await page.route(
      (url) => url.origin === homing.url && path.test(url.pathname),
      async (route) => {
        if (route.request().method() !== 'POST' || taken) return route.continue();
        taken = true;
        cut.answered.push((await route.fetch()).status());
        await route.abort('connectionreset');
      },
    );
    return cut;
  }

  /** The one request of the page `loseFirstAnswer` cut, as the page saw it; nothing else failed. */
  function expectOnlyTheCut(path: RegExp): void {
    const pages = [...records.values()];
    const failed = pages.flatMap((r) => r.failed);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/ net::ERR_CONNECTION_RESET$/);
    expect(path.test(failed[0]!.split(' ')[1]!.split('?')[0]!)).toBe(true);
    expect(pages.flatMap((r) => r.answers).filter((a) => !/ [23]\d\d$/.test(a))).toEqual([]);
    expect(pages.flatMap((r) => r.errors)).toEqual([expect.stringMatching(/ERR_CONNECTION_RESET/)]);
    expect(guard.attempts).toEqual([]);
  }

  /**
   * `allStored`'s `lostOnTheWay` for analytics.js: Chromium under load cuts a leaving page's request
   * (net::ERR_ABORTED) and the SDK keeps nothing for the next page. The SDK's loss, tolerated only
   * for the last event, 5 s on, when `aborted` saw such a cut and Homing answered no more `route`
   * requests since `answeredBefore` than the pages saw answered (one that reached Homing and was
   * refused or failed is one more).
   */
  function lastEventLostOnTheWay(
    route: string,
    answeredBefore: number,
    aborted: (failed: string[]) => boolean,
  ): (missing: MadeEvent[]) => Promise<boolean> {
    const since = Date.now();
    return async (missing) => {
      const answers = [...records.values()].flatMap((r) => r.answers);
      const failed = [...records.values()].flatMap((r) => r.failed);
      return (
        Date.now() - since > 5_000 &&
        missing.every((e) => e.event === 'Checkout Left') &&
        aborted(failed) &&
        (await answeredByHoming(route)) - answeredBefore ===
          answers.filter((a) => a.startsWith(`POST ${route} `)).length
      );
    };
  }

  /** No request to Homing failed or was refused, no console error, nothing left 127.0.0.1. */
  function expectCleanTraffic(): PageRecord {
    const pages = [...records.values()];
    const all: PageRecord = {
      sent: pages.flatMap((r) => r.sent),
      answers: pages.flatMap((r) => r.answers),
      failed: pages.flatMap((r) => r.failed),
      errors: pages.flatMap((r) => r.errors),
    };
    expect(all.answers.filter((a) => !/ [23]\d\d$/.test(a))).toEqual([]);
    // Leaving a page aborts what it was sending (Chromium reports a keepalive request aborted
    // too, though it goes on): that every event arrived is checked above. A refused preflight
    // or answer is net::ERR_FAILED.
    expect(all.failed.filter((f) => !f.endsWith(' net::ERR_ABORTED'))).toEqual([]);
    expect(all.errors).toEqual([]);
    expect(guard.attempts).toEqual([]);
    return all;
  }

  describe('posthog-js', () => {
    /** Starts posthog-js on the page with `options` beside api_host, recording each event it makes. */
    async function initPostHog(page: Page, options: Record<string, unknown>): Promise<void> {
      await page.evaluate(
        ({ api, token, options }) => {
          interface CapturedEvent {
            uuid: string;
            event: string;
            properties: Record<string, unknown>;
            $set?: Record<string, unknown>;
            timestamp: Date | string;
          }
          const posthog = (window as unknown as { posthog: any }).posthog;
          posthog.init(token, {
            api_host: api,
            // Chromium under automation says navigator.webdriver, which posthog-js takes for a bot.
            opt_out_useragent_filter: true,
            ...options,
          });
          posthog.on('eventCaptured', (e: CapturedEvent) => {
            const made = JSON.parse(localStorage.getItem('made') ?? '[]') as unknown[];
            made.push({
              uuid: e.uuid,
              event: e.event,
              distinctId: e.properties.distinct_id,
              properties: e.properties,
              ...(e.$set === undefined ? {} : { set: e.$set }),
              timestamp: new Date(e.timestamp).toISOString(),
            });
            localStorage.setItem('made', JSON.stringify(made));
          });
        },
        { api: homing.url, token: project.writeKey, options },
      );
    }

    /** Events while the page lives, then one more and the page is left: it goes by sendBeacon. */
    async function captureAndLeave(page: Page, user: string): Promise<void> {
      await page.evaluate((user) => {
        const posthog = (window as unknown as { posthog: any }).posthog;
        posthog.capture('signup.started', { plan: 'pro', step: 1 });
        posthog.identify(user, { email: `${user}@example.com` });
        posthog.capture('signup.finished', { plan: 'pro', step: 2 });
      }, user);
      await until(
        async () => (await stored()).some((e) => e.event === 'signup.finished'),
        'the events posthog-js sent while the page lived',
        SLOW_MS,
      );
      await page.evaluate(() =>
        (window as unknown as { posthog: any }).posthog.capture('cart.abandoned', { cart: 3 }),
      );
      await page.goto(`${site.url}/elsewhere`);
    }

    const NAMES = [
      '$pageview',
      'signup.started',
      '$identify',
      'signup.finished',
      'cart.abandoned',
      '$pageleave',
    ];

    // Only api_host changed, as an app already on PostHog would: its survey code came from
    // <api_host>/static/ (404, two console errors a page) while the remote config said
    // `surveys: false`, until the config left surveys out.
    it('with api_host only: its remote config script, gzip bodies, a beacon as the page is left', async () => {
      await start('posthog-js defaults');
      const page = await open('/posthog');
      await initPostHog(page, {});
      await captureAndLeave(page, 'ph-defaults');
      const { made, stored } = await allStored(page, NAMES);
      expectStoredAsMade(made, stored);
      const traffic = expectCleanTraffic();
      expect(traffic.answers).toContain(`GET /array/${project.writeKey}/config.js 200`);
      expect(traffic.sent.filter((s) => s.startsWith('GET /static/'))).toEqual([]);
      // gzip, as the config allows, goes as text/plain (uncompressed JSON as application/json).
      const posts = traffic.sent.filter((s) => s.startsWith('POST '));
      expect(posts).not.toEqual([]);
      expect(posts.filter((s) => !s.endsWith(' text/plain'))).toEqual([]);
      expect(stored.find((e) => e.event === 'signup.finished')!.distinct_id).toBe('ph-defaults');
    });

    it('with no external scripts and no compression: the JSON remote config, flags, JSON bodies, a base64 form beacon as the page is left', async () => {
      await start('posthog-js plain');
      const page = await open('/posthog');
      await initPostHog(page, {
        disable_external_dependency_loading: true,
        disable_session_recording: true,
        disable_compression: true,
      });
      // Asked of /flags even though the config says there are none: no flag, and no error.
      const flags = await page.evaluate(
        () =>
          new Promise<unknown>((resolve) => {
            const posthog = (window as unknown as { posthog: any }).posthog;
            posthog.onFeatureFlags((flags: string[]) =>
              resolve({ flags, checkout: posthog.getFeatureFlag('checkout') }),
            );
            posthog.reloadFeatureFlags();
          }),
      );
      expect(flags).toEqual({ flags: [] });
      await captureAndLeave(page, 'ph-plain');
      const { made, stored } = await allStored(page, [...NAMES, '$feature_flag_called']);
      expectStoredAsMade(made, stored);
      const traffic = expectCleanTraffic();
      expect(traffic.answers).toContain(`GET /array/${project.writeKey}/config 200`);
      expect(traffic.answers).toContain('POST /flags/?v=2 200');
      const posts = traffic.sent.filter((s) => s.startsWith('POST '));
      expect(posts).not.toEqual([]);
      expect(posts.filter((s) => !s.endsWith(' application/json'))).toEqual([]);
    });

    it('a page whose clock is 2 h ahead, an answer lost on the way: alias, group and person properties stored once each, at the server time', async () => {
      await start('posthog-js skewed', unlimited, 2 * HOUR_MS);
      const page = await open('/posthog');
      const capture = /^\/(i\/v0\/)?e\/$/;
      const cut = await loseFirstAnswer(page, capture);
      await initPostHog(page, { capture_pageleave: false });
      await page.evaluate(() => {
        const posthog = (window as unknown as { posthog: any }).posthog;
        posthog.capture('signup.started', { plan: 'pro' });
        posthog.alias('ph-skewed');
        posthog.identify('ph-skewed', { email: 'ph-skewed@example.com' });
        posthog.group('company', 'acme', { name: 'Acme' });
        posthog.setPersonProperties({ plan: 'pro' });
        posthog.capture('signup.finished', { plan: 'pro' });
      });
      const { made, stored } = await allStored(page, [
        '$pageview',
        'signup.started',
        '$create_alias',
        '$identify',
        '$groupidentify',
        '$set',
        'signup.finished',
      ]);
      expectStoredAsMade(made, stored);
      // Homing stored the cut request's events; the resend of them was a duplicate.
      expect(cut.answered).toEqual([200]);
      expectOnlyTheCut(capture);
      expect(stored.find((e) => e.event === '$create_alias')!.properties.alias).toBe('ph-skewed');
      expect(stored.find((e) => e.event === '$groupidentify')!.properties).toMatchObject({
        $group_type: 'company',
        $group_key: 'acme',
        $group_set: { name: 'Acme' },
      });
    });

    // posthog-js resends only what was answered 5xx or not at all: Homing's rate limit answered
    // 429, as on its other routes, lost the batch for good.
    it('a batch over the rate limit is sent again after its Retry-After and stored once', async () => {
      await start('posthog-js retried', limited);
      const page = await open('/posthog');
      await initPostHog(page, { capture_pageview: false, capture_pageleave: false });
      await page.evaluate(() => {
        const posthog = (window as unknown as { posthog: any }).posthog;
        posthog.capture('First', { n: 1 }, { send_instantly: true });
        posthog.capture('Refused Once', { n: 2 }, { send_instantly: true });
      });
      const { made, stored } = await allStored(page, ['First', 'Refused Once']);
      expectStoredAsMade(made, stored);
      const [record] = [...records.values()];
      const posts = record!.answers.filter((a) => a.startsWith('POST '));
      // Sent at once, either may be the one refused; the resend is numbered.
      expect(posts.map((a) => a.slice(a.lastIndexOf(' ') + 1)).sort()).toEqual(['200', '200', '503']);
      expect(posts.at(-1)).toMatch(/^POST \/(i\/v0\/)?e\/\?retry_count=1 200$/);
      expect(record!.failed).toEqual([]);
      expect(record!.errors).toEqual([expect.stringMatching(/status of 503/)]);
      expect(guard.attempts).toEqual([]);
    });
  });

  describe('Segment analytics.js', () => {
    /**
     * Loads analytics.js with its settings given inline (there is no CDN to ask) and Homing as the
     * Segment.io destination's host, recording each message it makes; resolves once it is ready.
     */
    async function loadAnalytics(page: Page, segmentIo: Record<string, unknown>): Promise<void> {
      await page.evaluate(
        async ({ apiHost, writeKey, segmentIo, cdn }) => {
          interface Message {
            messageId: string;
            type: string;
            event?: string;
            userId?: string | null;
            anonymousId?: string | null;
            properties?: Record<string, unknown>;
            traits?: Record<string, unknown>;
            timestamp: Date | string;
          }
          interface Message {
            groupId?: string;
          }
          const names: Record<string, string> = {
            identify: '$identify',
            page: '$pageview',
            group: '$groupidentify',
            alias: '$create_alias',
          };
          const { AnalyticsBrowser } = (window as unknown as { AnalyticsNext: any }).AnalyticsNext;
          const [analytics] = await AnalyticsBrowser.load(
            {
              writeKey,
              cdnURL: cdn,
              // Its own metrics go to <apiHost>/m, which is Segment's and not Homing's to take.
              cdnSettings: {
                integrations: { 'Segment.io': { apiKey: writeKey } },
                metrics: { sampleRate: 0 },
              },
            },
            { integrations: { 'Segment.io': { apiHost, protocol: 'http', ...segmentIo } } },
          );
          analytics.addSourceMiddleware(
            ({ payload, next }: { payload: { obj: Message }; next: (p: unknown) => void }) => {
              const m = payload.obj;
              const made = JSON.parse(localStorage.getItem('made') ?? '[]') as Array<Record<string, unknown>>;
              // A message the last page left unsent comes through again on this one.
              if (made.some((e) => e.uuid === m.messageId)) return next(payload);
              made.push({
                uuid: m.messageId,
                event: names[m.type] ?? m.event,
                distinctId: m.userId || m.anonymousId,
                properties:
                  m.type === 'group'
                    ? { $group_key: m.groupId, $group_set: m.traits }
                    : m.type === 'identify'
                      ? {}
                      : (m.properties ?? {}),
                ...(m.type === 'identify' ? { set: m.traits } : {}),
                timestamp: new Date(m.timestamp).toISOString(),
              });
              localStorage.setItem('made', JSON.stringify(made));
              next(payload);
            },
          );
          (window as unknown as { segment: unknown }).segment = analytics;
        },
        {
          apiHost: `${homing.url.replace('http://', '')}/v1`,
          writeKey: project.writeKey,
          segmentIo,
          cdn: `${site.url}/sdk/segment`,
        },
      );
    }

    /** track, identify, page while the page lives; then a track the page is left at once after. */
    async function trackAndLeave(page: Page, user: string): Promise<void> {
      await page.evaluate(async (user) => {
        const analytics = (window as unknown as { segment: any }).segment;
        await analytics.track('Order Completed', { revenue: 42, currency: 'EUR' });
        await analytics.identify(user, { email: `${user}@example.com`, plan: 'team' });
        await analytics.page('Docs', 'Install', { section: 'browser' });
        void analytics.track('Checkout Left', { step: 3 });
      }, user);
      await page.goto(`${site.url}/elsewhere`);
    }

    const NAMES = ['Order Completed', '$identify', '$pageview', 'Checkout Left'];

    it('a page whose clock is 2 h ahead, an answer lost on the way: alias and group stored once each, at the server time', async () => {
      await start('analytics.js skewed', unlimited, 2 * HOUR_MS);
      const page = await open('/segment');
      const cut = await loseFirstAnswer(page, /^\/v1\/t$/);
      await loadAnalytics(page, {});
      const anonymousId = await page.evaluate(async () => {
        const analytics = (window as unknown as { segment: any }).segment;
        // Not awaited: it resolves once delivered, which the cut puts off until the resend.
        void analytics.track('Order Completed', { revenue: 42, currency: 'EUR' });
        const anonymousId: string = analytics.user().anonymousId();
        await analytics.alias('seg-skewed');
        await analytics.identify('seg-skewed', { email: 'seg-skewed@example.com' });
        await analytics.group('acme', { name: 'Acme' });
        await analytics.page('Docs', 'Install', { section: 'browser' });
        return anonymousId;
      });
      const { made, stored } = await allStored(page, [
        'Order Completed',
        '$create_alias',
        '$identify',
        '$groupidentify',
        '$pageview',
      ]);
      expectStoredAsMade(made, stored);
      expect(cut.answered).toEqual([200]);
      expectOnlyTheCut(/^\/v1\/t$/);
      expect(stored.find((e) => e.event === '$create_alias')).toMatchObject({
        distinct_id: 'seg-skewed',
        properties: { alias: anonymousId },
      });
    });

    it('a message answered 429 is sent again, numbered by X-Retry-Count, and stored once', async () => {
      await start('analytics.js retried', limited);
      const page = await open('/segment');
      await loadAnalytics(page, {});
      await page.evaluate(async () => {
        const analytics = (window as unknown as { segment: any }).segment;
        await analytics.track('First', { n: 1 });
        void analytics.track('Refused Once', { n: 2 });
      });
      const { made, stored } = await allStored(page, ['First', 'Refused Once']);
      expectStoredAsMade(made, stored);
      const [record] = [...records.values()];
      expect(record!.answers).toEqual(['POST /v1/t 200', 'POST /v1/t 429', 'POST /v1/t 200']);
      expect(record!.failed).toEqual([]);
      // The 429 is the page's one console error (Chromium logs every failed answer); before,
      // each resend's preflight was refused (x-retry-count not allowed) and the message lost.
      expect(record!.errors).toEqual([expect.stringMatching(/status of 429/)]);
      expect(guard.attempts).toEqual([]);
    });

    it('standard delivery: a request per message with the write key as Basic auth; what the page left unsent is sent by the next page', async () => {
      await start('analytics.js standard');
      const tracksBefore = await answeredByHoming('/v1/t');
      const page = await open('/segment');
      await loadAnalytics(page, {});
      await trackAndLeave(page, 'seg-standard');
      // analytics.js keeps what it had not delivered for the next page of the site that loads it.
      await open('/segment/again', page);
      await loadAnalytics(page, {});
      // analytics.js may lose its last track on the way (see lastEventLostOnTheWay).
      const { made, stored } = await allStored(
        page,
        NAMES,
        lastEventLostOnTheWay('/v1/t', tracksBefore, (failed) =>
          failed.some((f) => f.endsWith('net::ERR_ABORTED')),
        ),
      );
      expectStoredAsMade(made, stored);
      const traffic = expectCleanTraffic();
      expect(traffic.answers).toEqual(
        expect.arrayContaining(['POST /v1/t 200', 'POST /v1/i 200', 'POST /v1/p 200']),
      );
      const order = stored.find((e) => e.event === 'Order Completed')!;
      expect(order.properties).toMatchObject({ revenue: 42, currency: 'EUR' });
      expect(stored.find((e) => e.event === '$identify')!.distinct_id).toBe('seg-standard');
    });

    it('batching delivery: batches to /v1/b, the last one as the page is left (keepalive) or by the next page', async () => {
      await start('analytics.js batching');
      const batchesBefore = await answeredByHoming('/v1/b');
      const page = await open('/segment');
      await loadAnalytics(page, {
        deliveryStrategy: { strategy: 'batching', config: { size: 3, timeout: 600_000 } },
      });
      await trackAndLeave(page, 'seg-batching');
      // A message still on its way through analytics.js's plugins when the page goes (a loaded
      // machine) is not yet in the batch sent with keepalive: analytics.js keeps it for the next
      // page, which sends it after its own batch timeout.
      await open('/segment/again', page);
      await loadAnalytics(page, {
        deliveryStrategy: { strategy: 'batching', config: { size: 3, timeout: 200 } },
      });
      // The keepalive batch may be cut on the way, and analytics.js, counting it sent, keeps
      // nothing for the next page (see lastEventLostOnTheWay).
      const { made, stored } = await allStored(
        page,
        NAMES,
        lastEventLostOnTheWay('/v1/b', batchesBefore, (failed) =>
          failed.includes('POST /v1/b net::ERR_ABORTED'),
        ),
      );
      expect(made.map((e) => e.event)).toEqual(expect.arrayContaining(NAMES.slice(0, 3)));
      expectStoredAsMade(made, stored);
      const traffic = expectCleanTraffic();
      expect(traffic.answers).toContain('POST /v1/b 200');
    });
  });
});
