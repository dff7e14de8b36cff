import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyHttpFailure,
  getHeader,
  httpErrorFromResponse,
  isTransientFailure,
  RETRYABLE_CODES,
} from './classifyHttpFailure.js';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  ConfigError,
  FaultInjectedError,
  HttpError,
  IsolatedCircuitError,
  TaskCancelledError,
  TaskTimeoutError,
} from './errors.js';

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

function codeError(code: string, name = 'Error'): Error {
  const error = new Error(`boom ${code}`) as Error & { code: string };
  error.code = code;
  error.name = name;
  return error;
}

describe('classifyHttpFailure: status codes', () => {
  it.each([
    [200, 'success'],
    [201, 'success'],
    [202, 'success'],
    [204, 'success'],
    [299, 'success'],
    [304, 'success'],
    [0, 'retryable'],
    [408, 'retryable'],
    [425, 'retryable'],
    [429, 'rate-limited'],
    [500, 'retryable'],
    [501, 'retryable'],
    [502, 'retryable'],
    [503, 'retryable'],
    [504, 'retryable'],
    [507, 'retryable'],
    [520, 'retryable'],
    [599, 'retryable'],
    [409, 'conflict'],
    [400, 'permanent'],
    [401, 'permanent'],
    [403, 'permanent'],
    [404, 'permanent'],
    [405, 'permanent'],
    [410, 'permanent'],
    [413, 'permanent'],
    [422, 'permanent'],
    [423, 'permanent'],
    [451, 'permanent'],
    [499, 'permanent'],
    [100, 'permanent'],
    [301, 'permanent'],
    [302, 'permanent'],
    [307, 'permanent'],
    [600, 'permanent'],
    [999, 'permanent'],
  ])('%d → %s', (status, kind) => {
    const result = classifyHttpFailure({ status });
    expect(result.kind).toBe(kind);
    expect(result.retryAfterMs).toBeUndefined();
    expect(result.reason).toContain(String(status));
  });

  it('names well-known statuses in the reason', () => {
    expect(classifyHttpFailure({ status: 503 }).reason).toBe('503 Service Unavailable');
    expect(classifyHttpFailure({ status: 418 }).reason).toBe('HTTP 418');
  });

  it('lets the status decide when an error is given too', () => {
    expect(classifyHttpFailure({ status: 404, error: codeError('ECONNRESET') }).kind).toBe('permanent');
  });
});

describe('classifyHttpFailure: Retry-After', () => {
  it.each([
    [429, { 'retry-after': '7' }, 'rate-limited', 7000],
    [429, { 'Retry-After': '7' }, 'rate-limited', 7000],
    [429, { 'RETRY-AFTER': ['3', '9'] }, 'rate-limited', 3000],
    [429, new Headers({ 'Retry-After': 'Tue, 24 Nov 2026 12:02:00 GMT' }), 'rate-limited', 120_000],
    [503, new Headers({ 'retry-after': '30' }), 'retryable', 30_000],
    [503, { 'retry-after': 'Sun, 06 Nov 1994 08:49:37 GMT' }, 'retryable', 0],
    [500, { 'retry-after': '2' }, 'retryable', 2000],
    [408, { 'retry-after': '2' }, 'retryable', 2000],
  ] as const)('%d with %o → %s after %d ms', (status, headers, kind, ms) => {
    expect(classifyHttpFailure({ status, headers, nowMs: NOW })).toEqual({
      kind,
      retryAfterMs: ms,
      reason: expect.any(String),
    });
  });

  it.each([
    [429, {}],
    [429, { 'retry-after': 'soon' }],
    [429, { 'retry-after': '-5' }],
    [503, { 'retry-after': '' }],
    [503, { 'retry-after': undefined }],
    [503, undefined],
  ])('%d with %o carries no delay', (status, headers) => {
    const result = classifyHttpFailure({ status, headers, nowMs: NOW });
    expect(result.kind).not.toBe('permanent');
    expect(result.retryAfterMs).toBeUndefined();
  });

  it('ignores Retry-After on permanent failures, conflicts and successes', () => {
    for (const status of [200, 400, 404, 409, 301]) {
      expect(classifyHttpFailure({ status, headers: { 'retry-after': '5' } }).retryAfterMs).toBeUndefined();
    }
  });

  it('returns huge delays uncapped', () => {
    expect(classifyHttpFailure({ status: 429, headers: { 'retry-after': '999999999' } }).retryAfterMs).toBe(
      999_999_999_000,
    );
  });
});

describe('classifyHttpFailure: network errors', () => {
  it.each([...RETRYABLE_CODES].map((code) => [code]))('code %s → retryable', (code) => {
    expect(classifyHttpFailure({ error: codeError(code) })).toEqual({
      kind: 'retryable',
      reason: `network error ${code}`,
    });
  });

  it.each([
    ['UND_ERR_CONNECT_TIMEOUT', 'retryable'],
    ['UND_ERR_HEADERS_TIMEOUT', 'retryable'],
    ['UND_ERR_BODY_TIMEOUT', 'retryable'],
    ['UND_ERR_SOCKET', 'retryable'],
    ['UND_ERR_CLOSED', 'retryable'],
    ['UND_ERR_DESTROYED', 'retryable'],
    ['UND_ERR_ABORTED', 'retryable'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'retryable'],
    ['UND_ERR_INVALID_ARG', 'permanent'],
    ['UND_ERR_NOT_SUPPORTED', 'permanent'],
    ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'permanent'],
    ['UND_ERR_HEADERS_OVERFLOW', 'permanent'],
    ['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'permanent'],
  ])('undici %s → %s', (code, kind) => {
    expect(classifyHttpFailure({ error: codeError(code) }).kind).toBe(kind);
  });

  it.each([
    ['ERR_INVALID_URL'],
    ['CERT_HAS_EXPIRED'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['ERR_TLS_CERT_ALTNAME_INVALID'],
    ['EACCES'],
  ])('unknown code %s → permanent', (code) => {
    expect(classifyHttpFailure({ error: codeError(code) })).toEqual({
      kind: 'permanent',
      reason: `error code ${code}`,
    });
  });

  it("axios's offline and cancelled calls and got's cancel are retryable, not permanent", () => {
    // Shaped as axios 1.x makes them: no response, a code, the XHR or fetch error as cause.
    const offline = Object.assign(codeError('ERR_NETWORK', 'AxiosError'), {
      cause: new TypeError('Failed to fetch'),
    });
    expect(classifyHttpFailure({ error: offline })).toEqual({
      kind: 'retryable',
      reason: 'network error ERR_NETWORK',
    });
    expect(isTransientFailure(offline)).toBe(true);
    const cancelled = codeError('ERR_CANCELED', 'CanceledError');
    expect(classifyHttpFailure({ error: cancelled }).kind).toBe('retryable');
    // got's CancelError also carries ERR_CANCELED; by its name alone it is still an abort.
    expect(
      classifyHttpFailure({ error: Object.assign(new Error('cancelled'), { name: 'CancelError' }) }),
    ).toEqual({
      kind: 'retryable',
      reason: 'CancelError',
    });
  });

  it("reads a fetch TypeError's cause code", () => {
    const error = new TypeError('fetch failed', { cause: codeError('ECONNREFUSED') });
    expect(classifyHttpFailure({ error }).kind).toBe('retryable');
    const bad = new TypeError('Failed to parse URL', { cause: codeError('ERR_INVALID_URL', 'TypeError') });
    expect(classifyHttpFailure({ error: bad }).kind).toBe('permanent');
  });

  it('reads a cause nested several levels deep and inside an AggregateError', () => {
    const aggregate = new AggregateError([codeError('ECONNREFUSED'), codeError('ETIMEDOUT')], 'all failed');
    const error = new Error('outer', { cause: new Error('middle', { cause: aggregate }) });
    expect(classifyHttpFailure({ error })).toEqual({
      kind: 'retryable',
      reason: 'network error ECONNREFUSED',
    });
  });

  it('does not loop on a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(classifyHttpFailure({ error: a }).kind).toBe('permanent');
  });

  it('survives a throwing getter', () => {
    const error = new Error('weird');
    Object.defineProperty(error, 'code', {
      get() {
        throw new Error('no');
      },
    });
    expect(classifyHttpFailure({ error }).kind).toBe('permanent');
  });

  it.each([
    ['AbortError DOMException', new DOMException('aborted', 'AbortError')],
    ['TimeoutError DOMException', new DOMException('timed out', 'TimeoutError')],
    ['NetworkError DOMException', new DOMException('offline', 'NetworkError')],
    ['Node AbortError', Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' })],
    ['TypeError without a code (browser fetch)', new TypeError('Failed to fetch')],
    ['TaskTimeoutError', new TaskTimeoutError(100)],
    ['TaskCancelledError', new TaskCancelledError()],
    ['BulkheadRejectedError', new BulkheadRejectedError(1, 0)],
    ['IsolatedCircuitError', new IsolatedCircuitError()],
    ['FaultInjectedError', new FaultInjectedError()],
  ])('%s → retryable', (_label, error) => {
    expect(classifyHttpFailure({ error }).kind).toBe('retryable');
  });

  it('carries the retry-after of an open circuit', () => {
    expect(classifyHttpFailure({ error: new BrokenCircuitError(1234) })).toEqual({
      kind: 'retryable',
      retryAfterMs: 1234,
      reason: 'circuit-open',
    });
  });

  it.each([
    ['plain Error', new Error('boom')],
    ['RangeError', new RangeError('boom')],
    ['SyntaxError (bad JSON body)', new SyntaxError('Unexpected token')],
    ['ConfigError', new ConfigError('x', 'bad')],
    ['a string', 'ECONNRESET'],
    ['a number', 503],
    ['null', null],
    ['undefined', undefined],
    ['an object without a code', { message: 'ECONNRESET socket hang up' }],
  ])('%s → permanent', (_label, error) => {
    expect(classifyHttpFailure({ error }).kind).toBe('permanent');
  });

  it('never reads the message: "socket hang up" without a code is not a network error', () => {
    expect(classifyHttpFailure({ error: new Error('socket hang up') }).kind).toBe('permanent');
    expect(classifyHttpFailure({ error: codeError('ECONNRESET') }).kind).toBe('retryable');
  });
});

describe('classifyHttpFailure: errors that carry a response', () => {
  it('classifies an HttpError by its own classification', () => {
    const error = httpErrorFromResponse({ status: 429, headers: { 'retry-after': '3' } });
    expect(classifyHttpFailure({ error })).toBe(error.classification);
    const wrapped = new Error('gave up', { cause: error });
    expect(classifyHttpFailure({ error: wrapped }).kind).toBe('rate-limited');
  });

  it.each([
    ['status', { status: 503 }, 'retryable'],
    ['statusCode (undici, got)', { statusCode: 404 }, 'permanent'],
    ['response.status (axios, ky)', { response: { status: 409 } }, 'conflict'],
    ['response with headers', { response: { status: 429, headers: { 'retry-after': '4' } } }, 'rate-limited'],
  ])('reads %s', (_label, extra, kind) => {
    const error = Object.assign(new Error('request failed'), extra);
    expect(classifyHttpFailure({ error, nowMs: NOW }).kind).toBe(kind);
  });

  it("uses the headers of an error's response, then a numeric retryAfterMs on the error", () => {
    const withHeaders = Object.assign(new Error('x'), {
      response: { status: 429, headers: { 'retry-after': '4' } },
    });
    expect(classifyHttpFailure({ error: withHeaders }).retryAfterMs).toBe(4000);
    const withOwn = Object.assign(new Error('x'), { status: 503, retryAfterMs: 250 });
    expect(classifyHttpFailure({ error: withOwn }).retryAfterMs).toBe(250);
    const badOwn = Object.assign(new Error('x'), { status: 503, retryAfterMs: -1 });
    expect(classifyHttpFailure({ error: badOwn }).retryAfterMs).toBeUndefined();
  });

  it('looks past a 2xx status on an error to its code', () => {
    const error = Object.assign(codeError('ECONNRESET'), { status: 200 });
    expect(classifyHttpFailure({ error }).kind).toBe('retryable');
  });
});

describe('classifyHttpFailure: real fetch failures', () => {
  let port = 0;
  const server = createServer((req, res) => {
    if (req.url === '/hang-up') {
      req.socket.destroy();
      return;
    }
    if (req.url === '/slow') return; // never answers
    res.writeHead(503, { 'retry-after': '12' }).end();
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function failure(url: string, init?: RequestInit): Promise<unknown> {
    try {
      await fetch(url, init);
    } catch (error) {
      return error;
    }
    throw new Error('expected fetch to fail');
  }

  it('connection refused → retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(`http://127.0.0.1:${closedPort}/`);
    expect(classifyHttpFailure({ error })).toMatchObject({
      kind: 'retryable',
      reason: 'network error ECONNREFUSED',
    });
  });

  it('socket hang-up → retryable', async () => {
    const error = await failure(`http://127.0.0.1:${port}/hang-up`);
    expect(classifyHttpFailure({ error }).kind).toBe('retryable');
  });

  it("node:http's socket hang up → retryable, by its code", async () => {
    const error = await new Promise<Error>((resolve) => {
      request(`http://127.0.0.1:${port}/hang-up`).on('error', resolve).end();
    });
    expect(error.message).toBe('socket hang up');
    expect(classifyHttpFailure({ error })).toEqual({ kind: 'retryable', reason: 'network error ECONNRESET' });
  });

  it('aborted and timed-out fetches → retryable', async () => {
    const controller = new AbortController();
    const pending = failure(`http://127.0.0.1:${port}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(classifyHttpFailure({ error: await pending })).toEqual({
      kind: 'retryable',
      reason: 'AbortError',
    });
    const timedOut = await failure(`http://127.0.0.1:${port}/slow`, { signal: AbortSignal.timeout(20) });
    expect(classifyHttpFailure({ error: timedOut })).toEqual({ kind: 'retryable', reason: 'TimeoutError' });
  });

  it('invalid URL → permanent', async () => {
    const error = await failure('not a url');
    expect(classifyHttpFailure({ error }).kind).toBe('permanent');
  });

  it('a real 503 response with Retry-After', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    await response.body?.cancel();
    expect(classifyHttpFailure(response)).toEqual({
      kind: 'retryable',
      retryAfterMs: 12_000,
      reason: '503 Service Unavailable',
    });
    const error = httpErrorFromResponse(response);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ kind: 'http', status: 503, retryAfterMs: 12_000 });
  });
});

describe('httpErrorFromResponse', () => {
  it('builds an HttpError whose retryAfterMs a retry policy can read', () => {
    const error = httpErrorFromResponse({ status: 429, headers: new Headers({ 'retry-after': '2' }) }, NOW);
    expect(error.kind).toBe('http');
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(2000);
    expect(error.classification.kind).toBe('rate-limited');
    expect(error.name).toBe('HttpError');
  });

  it('has no retryAfterMs when the server gave none', () => {
    const error = httpErrorFromResponse({ status: 500 });
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.classification).toEqual({ kind: 'retryable', reason: '500 Internal Server Error' });
  });

  it('refuses a successful response and bad input', () => {
    expect(() => httpErrorFromResponse({ status: 200 })).toThrow(
      expect.objectContaining({ kind: 'config', option: 'response.status' }),
    );
    expect(() => httpErrorFromResponse(null as never)).toThrow(ConfigError);
    expect(() => httpErrorFromResponse({ status: '500' } as never)).toThrow(
      expect.objectContaining({ option: 'response.status' }),
    );
  });
});

describe('classifyHttpFailure: bad input', () => {
  it.each([
    ['a string status', { status: '503' }, 'status'],
    ['NaN', { status: Number.NaN }, 'status'],
    ['a fraction', { status: 200.5 }, 'status'],
    ['a negative status', { status: -1 }, 'status'],
    ['a huge status', { status: 1e9 }, 'status'],
    ['a bad clock', { status: 503, nowMs: Number.POSITIVE_INFINITY }, 'nowMs'],
    ['neither status nor error', {}, 'input'],
  ])('%s → ConfigError naming %s', (_label, input, option) => {
    expect(() => classifyHttpFailure(input as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
  });

  it('rejects a non-object', () => {
    expect(() => classifyHttpFailure(null as never)).toThrow(ConfigError);
    expect(() => classifyHttpFailure(503 as never)).toThrow(ConfigError);
  });

  it('ignores malformed headers instead of failing', () => {
    expect(
      classifyHttpFailure({ status: 429, headers: 'retry-after: 5' as never }).retryAfterMs,
    ).toBeUndefined();
    expect(classifyHttpFailure({ status: 429, headers: { 'retry-after': [] } }).retryAfterMs).toBeUndefined();
  });
});

describe('classifyHttpFailure: hostile errors', () => {
  const thrower = (): never => {
    throw new Error('hostile');
  };

  it('reads a Retry-After getter that throws as no Retry-After', () => {
    const error = {
      status: 503,
      headers: {
        get 'retry-after'() {
          return thrower();
        },
      },
    };
    expect(classifyHttpFailure({ error })).toEqual({ kind: 'retryable', reason: '503 Service Unavailable' });
    expect(isTransientFailure(error)).toBe(true);
  });

  it('reads headers whose get() throws, or whose keys cannot be listed, as no headers', () => {
    const throwingGet = { statusCode: 429, headers: { get: thrower } };
    const throwingKeys = { status: 503, headers: new Proxy({}, { ownKeys: thrower }) };
    expect(classifyHttpFailure({ error: throwingGet }).kind).toBe('rate-limited');
    expect(classifyHttpFailure({ error: throwingKeys }).kind).toBe('retryable');
    expect(classifyHttpFailure({ status: 503, headers: { get: thrower } }).kind).toBe('retryable');
    expect(getHeader({ get: thrower }, 'retry-after')).toBeUndefined();
  });

  it('classifies a Proxy whose traps throw, or a revoked one, as an unrecognised error', () => {
    const prototypeTrap = new Proxy({}, { getPrototypeOf: thrower });
    const everyTrap = new Proxy({}, { getPrototypeOf: thrower, get: thrower, ownKeys: thrower });
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const error of [prototypeTrap, everyTrap, revoked, new Error('x', { cause: revoked })]) {
      expect(classifyHttpFailure({ error }).kind).toBe('permanent');
      expect(isTransientFailure(error)).toBe(false);
    }
    // What can be read still decides.
    const coded = new Proxy({ code: 'ECONNRESET' }, { getPrototypeOf: thrower });
    expect(classifyHttpFailure({ error: coded }).kind).toBe('retryable');
  });

  it('skips AggregateError members that cannot be read', () => {
    const { proxy: members, revoke } = Proxy.revocable([] as unknown[], {});
    revoke();
    const error = Object.assign(new Error('many'), { errors: members });
    expect(classifyHttpFailure({ error }).kind).toBe('permanent');
  });
});

describe('isTransientFailure', () => {
  it.each([
    [codeError('ECONNRESET'), true],
    [httpErrorFromResponse({ status: 429 }), true],
    [httpErrorFromResponse({ status: 503 }), true],
    [httpErrorFromResponse({ status: 409 }), false],
    [httpErrorFromResponse({ status: 400 }), false],
    [new Error('bug'), false],
  ])('%o → %s', (error, expected) => {
    expect(isTransientFailure(error)).toBe(expected);
  });
});

describe('getHeader', () => {
  it('reads Headers and records case-insensitively', () => {
    expect(getHeader(new Headers({ 'X-A': '1' }), 'x-a')).toBe('1');
    expect(getHeader({ 'X-A': '1' }, 'x-a')).toBe('1');
    expect(getHeader({ 'x-a': 5 }, 'X-A')).toBe('5');
    expect(getHeader({ 'x-a': undefined }, 'x-a')).toBeUndefined();
    expect(getHeader(undefined, 'x-a')).toBeUndefined();
  });
});

describe('classifyHttpFailure: properties', () => {
  const KINDS = ['success', 'retryable', 'rate-limited', 'conflict', 'permanent'];

  it('never throws on whatever was thrown, and always answers a kind and a reason', () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true }),
        (error) => {
          const result = classifyHttpFailure({ error });
          expect(KINDS).toContain(result.kind);
          expect(typeof result.reason).toBe('string');
        },
      ),
    );
  });

  it('classifies every valid status, with any Retry-After header, into a kind', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), fc.string({ maxLength: 40 }), (status, retryAfter) => {
        const result = classifyHttpFailure({ status, headers: { 'retry-after': retryAfter }, nowMs: NOW });
        expect(KINDS).toContain(result.kind);
        if (result.retryAfterMs !== undefined) {
          expect(['retryable', 'rate-limited']).toContain(result.kind);
          expect(Number.isFinite(result.retryAfterMs)).toBe(true);
        }
      }),
    );
  });
});
