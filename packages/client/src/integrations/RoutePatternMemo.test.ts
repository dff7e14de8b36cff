import { describe, expect, it } from 'vitest';
import { MAX_MOUNT_TEXTS_PER_ROUTE, RoutePatternMemo } from './RoutePatternMemo.js';

/** A request's name through the memo, its params given as Express's request holds them. */
const patternOf = (memo: RoutePatternMemo, route: unknown, baseUrl: unknown, params: unknown): string =>
  memo.name(route as { path?: unknown }, baseUrl, { params }).pattern;

describe('RoutePatternMemo', () => {
  it('answers the pattern of a route, by mount text, with the mount params put back', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/projects/:pid' };
    expect(patternOf(memo, route, '/orgs/acme', { org: 'acme' })).toBe('/orgs/:org/projects/:pid');
    expect(patternOf(memo, route, '/orgs/zeta', { org: 'zeta' })).toBe('/orgs/:org/projects/:pid');
    expect(patternOf(memo, route, '', {})).toBe('/projects/:pid');
    expect(patternOf(memo, route, undefined, undefined)).toBe('/projects/:pid');
  });

  it('answers the same name object for a repeat, so its tags can be kept with it', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/projects/:pid' };
    const first = memo.name(route, '/orgs/acme', { params: { org: 'acme' } });
    // A new string with the same text, as each request's baseUrl is.
    const again = memo.name(route, ['/orgs', 'acme'].join('/'), { params: { org: 'acme' } });
    expect(again).toBe(first);
    expect(memo.name(route, '', {})).toBe(memo.name(route, undefined, {}));
  });

  it('reads the params of the request only to name a route and mount text it has not named yet', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/projects/:pid' };
    let reads = 0;
    const request = (org: string): { readonly params: unknown } => ({
      get params() {
        reads++;
        return { org };
      },
    });
    memo.name(route, '/orgs/acme', request('acme'));
    memo.name(route, '/orgs/acme', request('acme'));
    memo.name(route, '', request(''));
    expect(reads).toBe(1);
    memo.name(route, '/orgs/zeta', request('zeta'));
    expect(reads).toBe(2);
  });

  it('keeps routes apart, and notices a route whose path was changed', () => {
    const memo = new RoutePatternMemo();
    const a = { path: '/a/:id' };
    const b = { path: '/b/:id' };
    expect(patternOf(memo, a, '/m/1', { m: '1' })).toBe('/m/:m/a/:id');
    expect(patternOf(memo, b, '/m/1', { m: '1' })).toBe('/m/:m/b/:id');
    a.path = '/c/:id';
    expect(patternOf(memo, a, '/m/1', { m: '1' })).toBe('/m/:m/c/:id');
    expect(patternOf(memo, a, '', {})).toBe('/c/:id');
  });

  it('stays bounded for a mount parameter with endless values, and stays right past the bound', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/x' };
    for (let i = 0; i < MAX_MOUNT_TEXTS_PER_ROUTE * 3 + 7; i++) {
      expect(patternOf(memo, route, `/orgs/o${i}`, { org: `o${i}` })).toBe('/orgs/:org/x');
    }
  });

  it('does not remember what it cannot key (a baseUrl that is not a string) and survives junk', () => {
    const memo = new RoutePatternMemo();
    expect(patternOf(memo, { path: '/x' }, 42, null)).toBe('/x');
    expect(patternOf(memo, { path: undefined }, '', {})).toBe('(unknown)');
    expect(patternOf(memo, { path: /^\/re$/ }, '/m', {})).toBe('/m/^\\/re$/');
    expect(patternOf(memo, {}, '/m/1', { m: '1' })).toBe('/m/:m(unknown)');
    // Junk assigned to req.route: named as routePattern names it, without throwing.
    expect(patternOf(memo, '/x', '/m/1', { m: '1' })).toBe('/m/:m(unknown)');
    expect(patternOf(memo, null, '', {})).toBe('(unknown)');
  });
});
