import { describe, expect, it } from 'vitest';
import { routePattern } from './routePattern.js';

describe('routePattern', () => {
  it('joins the mount path and the route path, putting mount params back as :name', () => {
    expect(routePattern('', {}, '/users/:id')).toBe('/users/:id');
    expect(routePattern('/orgs/acme', { org: 'acme' }, '/projects/:pid')).toBe('/orgs/:org/projects/:pid');
    expect(routePattern('/orgs/acme', { org: 'acme' }, '/')).toBe('/orgs/:org');
    expect(routePattern('/a/b c/d', { s: 'b c' }, '/')).toBe('/a/b c/d'.replace('b c', ':s'));
    expect(routePattern('/a/b%20c', { s: 'b c' }, '/')).toBe('/a/:s');
  });

  it('puts each param back at its own segment only, even when a fixed segment has the same text', () => {
    // app.use('/api/:tenant', router) reached as /api/api/items/2.
    expect(routePattern('/api/api', { tenant: 'api' }, '/items/:id')).toBe('/api/:tenant/items/:id');
    expect(routePattern('/api/acme', { tenant: 'acme' }, '/items/:id')).toBe('/api/:tenant/items/:id');
    // A param is in the innermost mount's text, which ends the mount text: the last match is its.
    expect(routePattern('/a/x/b/x', { p: 'x' }, '/c')).toBe('/a/x/b/:p/c');
    // Two params with one value: each takes one segment, in the pattern's order.
    expect(routePattern('/x/x', { a: 'x', b: 'x' }, '/')).toBe('/:a/:b');
    expect(routePattern('/orgs/o/o/teams/o', { org: 'o', team: 'o' }, '/')).toBe('/orgs/o/:org/teams/:team');
    expect(routePattern('/b%20c/b c', { s: 'b c' }, '/')).toBe('/b%20c/:s');
  });

  it('only replaces whole segments', () => {
    expect(routePattern('/acme-corp/acme', { org: 'acme' }, '/x')).toBe('/acme-corp/:org/x');
    expect(routePattern('/v1/1', { id: '1' }, '/x')).toBe('/v1/:id/x');
  });

  it('describes regexp and array paths, and survives junk', () => {
    expect(routePattern('', {}, /^\/re\/(\d+)$/)).toBe('/^\\/re\\/(\\d+)$/');
    expect(routePattern('', {}, ['/a', '/b'])).toBe('/a|/b');
    expect(routePattern(42, null, undefined)).toBe('(unknown)');
    expect(routePattern('/m', { n: 5, e: '' }, '/x')).toBe('/m/x');
  });
});
