import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestServer, startIngestServer } from './adminApi.test-helpers.js';

/**
 * posthog-js loads its project's remote config once on init: `config.js` as a script, else the
 * JSON. Homing answered 404, so every page load logged a failed request and posthog-js dropped
 * gzip until the next one; it now answers what PostHog answers for a project with every optional
 * feature off.
 */
describe('PostHog remote config routes', () => {
  const cleanups: Array<() => Promise<void>> = [];
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer('sqlite', cleanups);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const SITE = 'https://site.example';

  function get(path: string): Promise<Response> {
    return fetch(`${s.url}${path}`, { headers: { origin: SITE } });
  }

  /**
   * PostHog's config for a project without flags, recording, heatmaps or site apps, and no word
   * on surveys: posthog-js loads its survey code from Homing for `surveys: false` (a 404).
   */
  function nothingOn(token: string): Record<string, unknown> {
    return {
      token,
      supportedCompression: ['gzip', 'gzip-js'],
      hasFeatureFlags: false,
      captureDeadClicks: false,
      capturePerformance: false,
      autocapture_opt_out: false,
      autocaptureExceptions: false,
      analytics: { endpoint: '/i/v0/e/' },
      elementsChainAsString: true,
      errorTracking: { autocaptureExceptions: false, suppressionRules: [] },
      sessionRecording: false,
      heatmaps: false,
      defaultIdentifiedOnly: true,
      siteApps: [],
    };
  }

  it('GET /array/<write key>/config answers the JSON config, to a page of another origin', async () => {
    const res = await get(`/array/${s.project.writeKey}/config`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toEqual(nothingOn(s.project.writeKey));
  });

  it('GET /array/<write key>/config.js sets the same config where posthog-js reads it', async () => {
    const res = await get(`/array/${s.project.writeKey}/config.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/javascript/);
    // posthog-js loads it with crossorigin="anonymous": the answer needs CORS headers too.
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const window: Record<string, any> = {};
    runInNewContext(await res.text(), { window });
    const { siteApps, ...config } = nothingOn(s.project.writeKey);
    expect(window._POSTHOG_REMOTE_CONFIG).toEqual({ [s.project.writeKey]: { config, siteApps } });
  });

  it('a token that is no write key is refused in PostHog’s error shape, as on capture', async () => {
    for (const path of ['/array/phc_unknown/config', '/array/phc_unknown/config.js']) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 401]);
      expect(await res.json()).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    }
    const admin = await get(`/array/${s.project.adminKey}/config`);
    expect(admin.status).toBe(403);
    expect(await admin.json()).toMatchObject({ code: 'permission_denied' });
  });
});
