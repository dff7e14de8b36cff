import { afterEach, describe, expect, it, vi } from 'vitest';
import { createErrorTracker } from './createErrorTracker.js';
import { recordingHost } from './errors.test-helpers.js';
import type { BrowserWindowLike, ErrorTrackerGlobals } from './runtimeGlobals.js';
import type { ErrorTracker } from './types.js';
import { OWN_REQUEST } from '../../platform/ownRequest.js';

const open: ErrorTracker[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

function fakeConsole() {
  const printed: string[] = [];
  const c: Record<string, unknown> = {};
  for (const m of ['debug', 'info', 'log', 'warn', 'error'])
    c[m] = (...args: unknown[]) => printed.push(`${m}:${args.join(' ')}`);
  return { c, printed, originals: { ...c } };
}

describe('console breadcrumbs', () => {
  it('records console calls, still prints them, and restores the methods on close', async () => {
    const { c, printed, originals } = fakeConsole();
    const host = recordingHost();
    const t = createErrorTracker(host, { globals: { console: c }, consoleBreadcrumbs: true });
    (c['log'] as (...a: unknown[]) => void)('saved', 3, { id: 1 });
    (c['warn'] as (...a: unknown[]) => void)(new Error('disk almost full'));
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    (c['error'] as (...a: unknown[]) => void)('bad', cyclic, 10n);
    expect(printed).toEqual([
      'log:saved 3 [object Object]',
      'warn:Error: disk almost full',
      'error:bad [object Object] 10',
    ]);
    expect(t.getBreadcrumbs().map((b) => [b.level, b.message])).toEqual([
      ['info', 'saved 3 {"id":1}'],
      ['warning', 'Error: disk almost full'],
      ['error', 'bad {"self":[Circular]} 10'],
    ]);
    await t.close();
    for (const m of Object.keys(originals)) expect(c[m]).toBe(originals[m]);
  });

  it('never records or recurses when the tracker logger itself uses the console', async () => {
    const { c, printed } = fakeConsole();
    const host = recordingHost();
    host.logger = {
      debug: (m) => (c['debug'] as (s: string) => void)(m),
      warn: (m) => (c['warn'] as (s: string) => void)(m),
      error: (m) => (c['error'] as (s: string) => void)(m),
    };
    const t = createErrorTracker(host, { globals: { console: c }, consoleBreadcrumbs: true });
    open.push(t);
    t.addBreadcrumb({ category: 5 } as never); // makes the tracker warn through its logger
    t.captureError(new Error('x'), { severity: 'nope' as never });
    expect(printed.length).toBe(2);
    expect(t.getBreadcrumbs()).toEqual([]);
  });

  it('leaves a later wrapper in place on close and stops recording', async () => {
    const { c } = fakeConsole();
    const t = createErrorTracker(recordingHost(), {
      globals: { console: c },
      consoleBreadcrumbs: true,
      consoleMethods: ['log'],
    });
    const ours = c['log'] as (...a: unknown[]) => void;
    const theirs = (...a: unknown[]) => ours(...a);
    c['log'] = theirs;
    await t.close();
    expect(c['log']).toBe(theirs);
    theirs('after close');
    expect(t.getBreadcrumbs()).toEqual([]);
  });
});

describe('fetch breadcrumbs', () => {
  it('records method, URL without query or credentials, status and duration; passes the response through', async () => {
    const host = recordingHost();
    const response = { status: 503, ok: false };
    const original = vi.fn(async () => {
      host.clock.now += 120;
      return response;
    });
    const owner: ErrorTrackerGlobals['fetchOwner'] = { fetch: original };
    const t = createErrorTracker(host, { globals: { fetchOwner: owner }, fetchBreadcrumbs: true });
    const res = await owner.fetch!('https://user:pw@api.test/v1/orders?token=secret#x', {
      method: 'post',
      body: '{}',
    });
    expect(res).toBe(response);
    expect(original).toHaveBeenCalledWith('https://user:pw@api.test/v1/orders?token=secret#x', {
      method: 'post',
      body: '{}',
    });
    await owner.fetch!({ url: '/relative/path?q=1', method: 'PUT' });
    await owner.fetch!(new URL('https://api.test/ok'));
    expect(t.getBreadcrumbs()).toEqual([
      expect.objectContaining({
        category: 'fetch',
        level: 'error',
        message: 'POST https://api.test/v1/orders 503',
        data: { method: 'POST', url: 'https://api.test/v1/orders', status: 503, durationMs: 120 },
      }),
      expect.objectContaining({ message: 'PUT /relative/path 503' }),
      expect.objectContaining({ message: 'GET https://api.test/ok 503' }),
    ]);
    await t.close();
    expect(owner.fetch).toBe(original);
  });

  it('records a failed request and rethrows the same error', async () => {
    const boom = new TypeError('fetch failed');
    const owner: { fetch: (url: string) => Promise<unknown> } = { fetch: async () => Promise.reject(boom) };
    const t = createErrorTracker(recordingHost(), { globals: { fetchOwner: owner }, fetchBreadcrumbs: true });
    open.push(t);
    await expect(owner.fetch('http://127.0.0.1:1/x?y')).rejects.toBe(boom);
    expect(t.getBreadcrumbs()[0]).toMatchObject({
      level: 'error',
      message: 'GET http://127.0.0.1:1/x failed',
      data: { status: null, error: 'TypeError' },
    });
  });

  it('wraps the real global fetch against a local server', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      res.statusCode = req.url?.startsWith('/missing') ? 404 : 200;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const before = globalThis.fetch;
    const t = createErrorTracker(recordingHost(), {
      globals: { fetchOwner: globalThis as never },
      fetchBreadcrumbs: true,
    });
    try {
      expect(globalThis.fetch).not.toBe(before);
      expect(await (await fetch(`http://127.0.0.1:${port}/missing?id=5`)).text()).toBe('ok');
      expect(t.getBreadcrumbs()[0]).toMatchObject({
        message: `GET http://127.0.0.1:${port}/missing 404`,
        level: 'warning',
      });
      // Homing's own delivery requests leave no breadcrumb.
      await (
        await fetch(`http://127.0.0.1:${port}/ingest`, { method: 'POST', [OWN_REQUEST]: true } as RequestInit)
      ).text();
      expect(t.getBreadcrumbs()).toHaveLength(1);
    } finally {
      await t.close();
      server.close();
    }
    expect(globalThis.fetch).toBe(before);
  });
});

describe('navigation breadcrumbs', () => {
  function fakeWindow() {
    const listeners = new Map<string, Set<(e: unknown) => void>>();
    const location = { href: 'https://app.test/home?session=abc' };
    const history = {
      pushState: (_d: unknown, _u: string, url?: string | URL | null) => {
        if (url) location.href = new URL(String(url), location.href).href;
      },
      replaceState: (_d: unknown, _u: string, url?: string | URL | null) => {
        if (url) location.href = new URL(String(url), location.href).href;
      },
    };
    const win: BrowserWindowLike = {
      history,
      location,
      addEventListener: (type, l) =>
        (listeners.get(type) ?? listeners.set(type, new Set()).get(type)!).add(l),
      removeEventListener: (type, l) => listeners.get(type)?.delete(l),
    };
    const dispatch = (type: string, event: unknown = {}) => listeners.get(type)?.forEach((l) => l(event));
    return { win, history, location, listeners, dispatch, originals: { ...history } };
  }

  it('records pushState, replaceState and popstate without query strings; restores on close', async () => {
    const w = fakeWindow();
    const t = createErrorTracker(recordingHost(), {
      globals: { window: w.win },
      navigationBreadcrumbs: true,
    });
    w.history.pushState({}, '', '/cart?item=1');
    w.history.replaceState({}, '', '/cart/checkout');
    w.location.href = 'https://app.test/home';
    w.dispatch('popstate');
    expect(t.getBreadcrumbs().map((b) => b.data)).toEqual([
      { from: 'https://app.test/home', to: 'https://app.test/cart', kind: 'pushState' },
      { from: 'https://app.test/cart', to: 'https://app.test/cart/checkout', kind: 'replaceState' },
      { from: 'https://app.test/cart/checkout', to: 'https://app.test/home', kind: 'popstate' },
    ]);
    await t.close();
    expect(w.history.pushState).toBe(w.originals.pushState);
    expect(w.history.replaceState).toBe(w.originals.replaceState);
    expect(w.listeners.get('popstate')?.size ?? 0).toBe(0);
  });
});

describe('several trackers on one console, fetch and history', () => {
  it('share one wrapper each: closed in any order, nothing piles up, and the last one out restores the originals', async () => {
    const { c, printed, originals } = fakeConsole();
    const fetchOriginal = async (): Promise<unknown> => ({ status: 200 });
    const owner: { fetch: (url: string) => Promise<unknown> } = { fetch: fetchOriginal };
    const history = { pushState: () => {}, replaceState: () => {} };
    const historyOriginals = { ...history };
    const win: BrowserWindowLike = {
      history,
      location: { href: 'https://app.test/' },
      addEventListener: () => {},
      removeEventListener: () => {},
    };
    const make = (): ErrorTracker =>
      createErrorTracker(recordingHost(), {
        globals: { console: c, fetchOwner: owner, window: win },
        consoleBreadcrumbs: true,
        fetchBreadcrumbs: true,
        navigationBreadcrumbs: true,
      });
    for (let cycle = 0; cycle < 50; cycle++) {
      const a = make();
      const b = make();
      // Both record each call once, through one layer.
      (c['log'] as (...x: unknown[]) => void)('cycle %d', cycle);
      await owner.fetch('https://api.test/x');
      expect(a.getBreadcrumbs().map((crumb) => crumb.message)).toEqual([
        `cycle ${cycle}`,
        'GET https://api.test/x 200',
      ]);
      expect(b.getBreadcrumbs().map((crumb) => crumb.message)).toEqual([
        `cycle ${cycle}`,
        'GET https://api.test/x 200',
      ]);
      // Closed in the order they were made: each wrapper stayed under the next one's, for good.
      await (cycle % 2 === 0 ? a : b).close();
      expect(c['log']).not.toBe(originals['log']);
      await (cycle % 2 === 0 ? b : a).close();
      for (const m of Object.keys(originals)) expect(c[m], m).toBe(originals[m]);
      expect(owner.fetch).toBe(fetchOriginal);
      expect(history.pushState).toBe(historyOriginals.pushState);
      expect(history.replaceState).toBe(historyOriginals.replaceState);
    }
    expect(printed).toHaveLength(50);
  });

  it('a wrapper someone else put on top stays; ours under it passes through, and a new tracker records again', async () => {
    const { c, originals } = fakeConsole();
    const options = { globals: { console: c }, consoleBreadcrumbs: true, consoleMethods: ['log' as const] };
    const first = createErrorTracker(recordingHost(), options);
    const ours = c['log'] as (...x: unknown[]) => void;
    const theirs = (...x: unknown[]): void => ours(...x);
    c['log'] = theirs;
    await first.close();
    expect(c['log']).toBe(theirs);
    const second = createErrorTracker(recordingHost(), options);
    (c['log'] as (...x: unknown[]) => void)('seen');
    expect(second.getBreadcrumbs().map((crumb) => crumb.message)).toEqual(['seen']);
    expect(first.getBreadcrumbs()).toEqual([]);
    await second.close();
    expect(c['log']).toBe(theirs);
    // Their wrapper taken off: ours, empty, is what is left, and the next tracker joins it.
    c['log'] = ours;
    const third = createErrorTracker(recordingHost(), options);
    expect(c['log']).toBe(ours);
    await third.close();
    expect(c['log']).toBe(originals['log']);
  });
});

describe('browser unhandled errors', () => {
  function fakeEventWindow() {
    const listeners = new Map<string, Set<(e: unknown) => void>>();
    const win: BrowserWindowLike = {
      addEventListener: (type, l) =>
        (listeners.get(type) ?? listeners.set(type, new Set()).get(type)!).add(l),
      removeEventListener: (type, l) => listeners.get(type)?.delete(l),
    };
    const dispatch = (type: string, event: Record<string, unknown>) => {
      let prevented = false;
      listeners.get(type)?.forEach((l) => l({ ...event, preventDefault: () => (prevented = true) }));
      return prevented;
    };
    return { win, listeners, dispatch };
  }

  it('records error and unhandledrejection events, persists, never prevents the default', async () => {
    const w = fakeEventWindow();
    const host = recordingHost();
    const t = createErrorTracker(host, {
      globals: { window: w.win },
      captureUnhandled: true,
      dedupWindowMs: 0,
    });
    expect(w.dispatch('error', { error: new RangeError('page broke') })).toBe(false);
    expect(
      w.dispatch('error', {
        message: 'Script error.',
        filename: 'https://cdn.test/lib.js',
        lineno: 3,
        colno: 9,
      }),
    ).toBe(false);
    expect(w.dispatch('unhandledrejection', { reason: 'nope' })).toBe(false);
    const sent = host.of('$exception');
    expect(
      sent.map((e) => [e['$exception_type'], e['$exception_mechanism'], e['$exception_handled']]),
    ).toEqual([
      ['RangeError', 'error', false],
      ['ScriptError', 'error', false],
      ['Error', 'unhandledrejection', false],
    ]);
    expect(
      (sent[1]!['$exception_list'] as { stacktrace: { frames: unknown[] } }[])[0]!.stacktrace.frames,
    ).toEqual([{ file: 'https://cdn.test/lib.js', line: 3, column: 9, function: null, inApp: true }]);
    await vi.waitFor(() => expect(host.persisted).toBe(3));
    await t.close();
    expect(w.listeners.get('error')?.size).toBe(0);
    expect(w.listeners.get('unhandledrejection')?.size).toBe(0);
  });

  it("a storage that cannot persist (a page's memory stand-in) is not an error tracking failure", async () => {
    const w = fakeEventWindow();
    const host = recordingHost();
    host.persist = async () => {
      host.persisted++;
      throw new Error('persist (events are kept in memory only)');
    };
    const t = createErrorTracker(host, { globals: { window: w.win }, captureUnhandled: true });
    w.dispatch('error', { error: new RangeError('page broke') });
    w.dispatch('unhandledrejection', { reason: 'nope' });
    await vi.waitFor(() => expect(host.persisted).toBe(2));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(host.of('$exception')).toHaveLength(2);
    expect(host.logs.filter((l) => l.level !== 'debug')).toEqual([]);
    expect(host.logs.map((l) => l.message)).toContain('error tracking: storing the captured error failed');
    await t.close();
  });

  it('installs nothing when not asked', async () => {
    const w = fakeEventWindow();
    const t = createErrorTracker(recordingHost(), { globals: { window: w.win } });
    expect(w.listeners.size).toBe(0);
    await t.close();
  });
});
