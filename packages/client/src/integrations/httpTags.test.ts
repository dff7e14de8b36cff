import { describe, expect, it } from 'vitest';
import { ABORTED_STATUS, HttpTagCache, methodTag, RouteName, statusTag } from './httpTags.js';

describe('HttpTagCache', () => {
  it('answers the same frozen tags object for the same method, route and status', () => {
    const cache = new HttpTagCache();
    const a = cache.get('GET', '/users/:id', '200');
    expect(a).toEqual({ method: 'GET', route: '/users/:id', status: '200' });
    expect(Object.isFrozen(a)).toBe(true);
    // A route built anew per request (a mounted router's pattern) still finds its entry.
    expect(cache.get('GET', ['/users', '/:id'].join(''), '200')).toBe(a);
  });

  it('keeps combinations that share parts apart', () => {
    const cache = new HttpTagCache();
    const seen = [
      cache.get('GET', '/a', '200'),
      cache.get('POST', '/a', '200'),
      cache.get('GET', '/a', '500'),
      cache.get('GET', '/b', '200'),
    ];
    expect(new Set(seen).size).toBe(4);
    expect(seen.map((t) => `${t.method} ${t.route} ${t.status}`)).toEqual([
      'GET /a 200',
      'POST /a 200',
      'GET /a 500',
      'GET /b 200',
    ]);
  });

  it('starts over past its bound, so an endless route namer cannot grow it', () => {
    const cache = new HttpTagCache(3);
    const first = cache.get('GET', '/r0', '200');
    cache.get('GET', '/r1', '200');
    cache.get('GET', '/r2', '200');
    expect(cache.get('GET', '/r0', '200')).toBe(first);
    cache.get('GET', '/r3', '200');
    const again = cache.get('GET', '/r0', '200');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});

describe('HttpTagCache.forRoute', () => {
  it('tags a request to a named route as get() does, from the raw method and status code', () => {
    const cache = new HttpTagCache();
    const users = new RouteName('/users/:id');
    expect(cache.forRoute(users, 'GET', 200, 'code')).toBe(cache.get('GET', '/users/:id', '200'));
    expect(cache.forRoute(users, 'get', 404, 'code')).toBe(cache.get('GET', '/users/:id', '404'));
    expect(cache.forRoute(users, 'FOO', 200, 'code')).toEqual({
      method: 'OTHER',
      route: '/users/:id',
      status: '200',
    });
    expect(cache.forRoute(users, 'GET', ABORTED_STATUS, 'code')).toEqual({
      method: 'GET',
      route: '/users/:id',
      status: 'aborted',
    });
    expect(new HttpTagCache().forRoute(users, 'GET', 503, 'class')).toEqual({
      method: 'GET',
      route: '/users/:id',
      status: '5xx',
    });
    expect(cache.forRoute(users, 'GET', 42, 'code').status).toBe('other');
  });

  it('answers the same tags for a repeat, and keeps caches (instrumentations) apart on one route', () => {
    const codes = new HttpTagCache();
    const classes = new HttpTagCache();
    const route = new RouteName('/r');
    const first = codes.forRoute(route, 'GET', 200, 'code');
    expect(codes.forRoute(route, 'GET', 200, 'code')).toBe(first);
    expect(classes.forRoute(route, 'GET', 200, 'class').status).toBe('2xx');
    expect(codes.forRoute(route, 'GET', 200, 'code')).toBe(first);
    expect(codes.forRoute(route, 'POST', 200, 'code').method).toBe('POST');
    expect(codes.forRoute(route, 'GET', 201, 'code').status).toBe('201');
  });
});

describe('methodTag and statusTag', () => {
  it('upper-cases known methods and folds the rest into OTHER', () => {
    expect(methodTag('GET')).toBe('GET');
    expect(methodTag('patch')).toBe('PATCH');
    expect(methodTag('FOO')).toBe('OTHER');
    expect(methodTag(undefined)).toBe('OTHER');
  });

  it('gives the code or the class, and other for a bad status', () => {
    expect(statusTag(404, 'code')).toBe('404');
    expect(statusTag(404, 'class')).toBe('4xx');
    expect(statusTag(99, 'code')).toBe('other');
    expect(statusTag('200', 'code')).toBe('other');
  });
});
