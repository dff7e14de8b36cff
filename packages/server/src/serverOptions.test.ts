import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildServer } from './app.js';
import { MAX_KEEP_ALIVE_TIMEOUT_MS, resolveServerOptions, ServerOptionsError } from './serverOptions.js';
import { NoopStore } from './store/noop.js';

const resolve = (corsOrigins: unknown) =>
  resolveServerOptions({ store: new NoopStore(), corsOrigins: corsOrigins as readonly string[] });

function errorOf(corsOrigins: unknown): ServerOptionsError {
  try {
    resolve(corsOrigins);
  } catch (err) {
    expect(err).toBeInstanceOf(ServerOptionsError);
    expect((err as ServerOptionsError).option).toBe('corsOrigins');
    return err as ServerOptionsError;
  }
  throw new Error(`corsOrigins ${JSON.stringify(corsOrigins)} was accepted`);
}

describe('resolveServerOptions: corsOrigins', () => {
  it('accepts origins written exactly as browsers send them, and * alone', () => {
    const good = [
      'https://app.example.com',
      'http://localhost:3000',
      'http://127.0.0.1:8080',
      'http://[::1]:5173',
      'https://xn--bcher-kva.example',
    ];
    expect(resolve(good).corsOrigins).toEqual(good);
    expect(resolve('*').corsOrigins).toBe('*');
    expect(resolveServerOptions({ store: new NoopStore() }).corsOrigins).toBe('*');
    // No browser origin at all is a choice (ingest from servers only), not a mistake.
    expect(resolve([]).corsOrigins).toEqual([]);
  });

  it.each([
    ['https://app.example.com/', 'https://app.example.com'],
    ['app.example.com', 'https://app.example.com'],
    ['https://app.example.com/ingest', 'https://app.example.com'],
    ['https://app.example.com?x=1', 'https://app.example.com'],
    ['https://App.Example.COM', 'https://app.example.com'],
    ['https://app.example.com:443', 'https://app.example.com'],
    ['http://localhost:80', 'http://localhost'],
    [' https://app.example.com', 'https://app.example.com'],
    ['localhost:3000', 'https://localhost:3000'],
  ])('refuses %j, which never matches, and suggests %s', (bad, fixed) => {
    const err = errorOf(['https://ok.example', bad]);
    expect(err.message).toContain(`"${bad}"`);
    expect(err.message).toContain(`did you mean ${fixed}?`);
    expect(err.message).toContain('scheme://host[:port]');
  });

  it('refuses other schemes, non-URLs, empty entries and * inside a list, saying what to pass', () => {
    expect(errorOf(['ftp://files.example']).message).toMatch(/"ftp:\/\/files.example".*http or https/);
    expect(errorOf(['chrome-extension://abcdef']).message).toMatch(/http or https/);
    expect(errorOf(['https://']).message).toMatch(/"https:\/\/", which is not an origin/);
    expect(errorOf(['not a host']).message).toMatch(/"not a host", which is not an origin/);
    expect(errorOf(['']).message).toMatch(/empty or non-string entry/);
    expect(errorOf([42]).message).toMatch(/empty or non-string entry/);
    expect(errorOf(['https://a.example', '*']).message).toMatch(/pass '\*' alone/);
    expect(errorOf('https://a.example').message).toMatch(/pass \['https:\/\/a.example'\], not the string/);
    expect(errorOf(7).message).toMatch(/must be '\*' or a list of origins/);
  });
});

describe('resolveServerOptions: timer delays', () => {
  it('keepAliveTimeoutMs stops a second short of that (Node times an idle socket a second past it): the largest accepted answers without a TimeoutOverflowWarning', async () => {
    const store = new NoopStore();
    expect(() => resolveServerOptions({ store, keepAliveTimeoutMs: 2_147_482_648 })).toThrow(
      /keepAliveTimeoutMs.*from 1 to 2147482647/,
    );
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const app = buildServer({ logger: false, store, keepAliveTimeoutMs: MAX_KEEP_ALIVE_TIMEOUT_MS });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await app.close();
    }
  });

  it.each(['shutdownGraceMs', 'readyTimeoutMs'] as const)(
    '%s over 2^31-1 ms (which a timer fires after 1 ms) is refused, the largest that works accepted',
    (option) => {
      const store = new NoopStore();
      expect(() => resolveServerOptions({ store, [option]: 2_147_483_648 })).toThrow(
        new RegExp(`${option}.*from \\d+ to 2147483647`),
      );
      expect(() => resolveServerOptions({ store, [option]: 1e15 })).toThrow(ServerOptionsError);
      expect(resolveServerOptions({ store, [option]: 2_147_483_647 })[option]).toBe(2_147_483_647);
    },
  );
});

describe('resolveServerOptions: maxBatchEvents', () => {
  it('defaults to 10 000 and takes any integer from 1 to 1 000 000', () => {
    const store = new NoopStore();
    expect(resolveServerOptions({ store }).maxBatchEvents).toBe(10_000);
    expect(resolveServerOptions({ store, maxBatchEvents: 1 }).maxBatchEvents).toBe(1);
    expect(resolveServerOptions({ store, maxBatchEvents: 1_000_000 }).maxBatchEvents).toBe(1_000_000);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity, 1_000_001, 1e15, '100'])(
    'refuses %s, naming the option and its range',
    (value) => {
      const store = new NoopStore();
      let error: unknown;
      try {
        resolveServerOptions({ store, maxBatchEvents: value as number });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ServerOptionsError);
      expect((error as ServerOptionsError).option).toBe('maxBatchEvents');
      expect((error as Error).message).toMatch(/maxBatchEvents must be an integer from 1 to 1000000/);
    },
  );
});

describe('resolveServerOptions: idle connections', () => {
  it('keeps idle connections 10 s and caps none by default; 0 is refused as a keep-alive timeout', () => {
    const store = new NoopStore();
    expect(resolveServerOptions({ store })).toMatchObject({ keepAliveTimeoutMs: 10_000, maxConnections: 0 });
    expect(() => resolveServerOptions({ store, keepAliveTimeoutMs: 0 })).toThrow(/keepAliveTimeoutMs/);
    expect(() => resolveServerOptions({ store, maxConnections: -1 })).toThrow(
      /maxConnections must be an integer ≥ 0/,
    );
    expect(resolveServerOptions({ store, maxConnections: 5000 }).maxConnections).toBe(5000);
  });
});
