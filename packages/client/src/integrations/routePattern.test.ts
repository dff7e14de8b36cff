import { describe, expect, it } from 'vitest';
import { routePattern } from './routePattern.js';

describe('routePattern', () => {
  it('joins the mount path and the route path, putting mount params back as :name', () => {
    expect(routePattern('', {}, '/users/:id')).toBe('/users/:id');
    expect(routePattern('/orgs/acme', { org: 'acme' }, '/projects/:pid')).toBe('/orgs/:org/projects/:pid');
    expect(routePattern('/orgs/acme', { org: 'acme' }, '/')).toBe('/orgs/:org');
    expect(routePattern('/a/x/b/x', { p: 'x' }, '/c')).toBe('/a/:p/b/:p/c');
    expect(routePattern('/a/b c/d', { s: 'b c' }, '/')).toBe('/a/b c/d'.replace('b c', ':s'));
    expect(routePattern('/a/b%20c', { s: 'b c' }, '/')).toBe('/a/:s');
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
