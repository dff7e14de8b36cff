import { describe, expect, it } from 'vitest';
import { MAX_MOUNT_TEXTS_PER_ROUTE, RoutePatternMemo } from './RoutePatternMemo.js';

describe('RoutePatternMemo', () => {
  it('answers the pattern of a route, by mount text, with the mount params put back', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/projects/:pid' };
    expect(memo.pattern(route, '/orgs/acme', { org: 'acme' })).toBe('/orgs/:org/projects/:pid');
    expect(memo.pattern(route, '/orgs/zeta', { org: 'zeta' })).toBe('/orgs/:org/projects/:pid');
    expect(memo.pattern(route, '', {})).toBe('/projects/:pid');
    expect(memo.pattern(route, undefined, undefined)).toBe('/projects/:pid');
  });

  it('answers the same string object for a repeat, so tag lookups compare by identity', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/projects/:pid' };
    const first = memo.pattern(route, '/orgs/acme', { org: 'acme' });
    // A new string with the same text, as each request's baseUrl is.
    const again = memo.pattern(route, ['/orgs', 'acme'].join('/'), { org: 'acme' });
    expect(again).toBe(first);
  });

  it('keeps routes apart, and notices a route whose path was changed', () => {
    const memo = new RoutePatternMemo();
    const a = { path: '/a/:id' };
    const b = { path: '/b/:id' };
    expect(memo.pattern(a, '/m/1', { m: '1' })).toBe('/m/:m/a/:id');
    expect(memo.pattern(b, '/m/1', { m: '1' })).toBe('/m/:m/b/:id');
    a.path = '/c/:id';
    expect(memo.pattern(a, '/m/1', { m: '1' })).toBe('/m/:m/c/:id');
    expect(memo.pattern(a, '', {})).toBe('/c/:id');
  });

  it('stays bounded for a mount parameter with endless values, and stays right past the bound', () => {
    const memo = new RoutePatternMemo();
    const route = { path: '/x' };
    for (let i = 0; i < MAX_MOUNT_TEXTS_PER_ROUTE * 3 + 7; i++) {
      expect(memo.pattern(route, `/orgs/o${i}`, { org: `o${i}` })).toBe('/orgs/:org/x');
    }
  });

  it('does not remember what it cannot key (a baseUrl that is not a string) and survives junk', () => {
    const memo = new RoutePatternMemo();
    expect(memo.pattern({ path: '/x' }, 42, null)).toBe('/x');
    expect(memo.pattern({ path: undefined }, '', {})).toBe('(unknown)');
    expect(memo.pattern({ path: /^\/re$/ }, '/m', {})).toBe('/m/^\\/re$/');
    expect(memo.pattern({}, '/m/1', { m: '1' })).toBe('/m/:m(unknown)');
    // Junk assigned to req.route: named as routePattern names it, without throwing.
    expect(memo.pattern('/x' as never, '/m/1', { m: '1' })).toBe('/m/:m(unknown)');
    expect(memo.pattern(null as never, '', {})).toBe('(unknown)');
  });
});
