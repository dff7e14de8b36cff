import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { StoreError } from '../store/errors.js';
import { NoopStore } from '../store/noop.js';
import { AdminApiError, keyFingerprint, readAdminKey, toAdminApiError } from './adminAuth.js';

function kindOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof AdminApiError ? err.kind : `not an AdminApiError: ${String(err)}`;
  }
}

describe('readAdminKey', () => {
  it('reads Bearer (any case, spaces around) or X-Homing-Admin-Key; none is null', () => {
    expect(readAdminKey({ authorization: 'Bearer ha_x' })).toBe('ha_x');
    expect(readAdminKey({ authorization: '  bearer   ha_x  ' })).toBe('ha_x');
    expect(readAdminKey({ 'x-homing-admin-key': ' ha_y ' })).toBe('ha_y');
    expect(readAdminKey({ authorization: 'Bearer ha_z', 'x-homing-admin-key': 'ha_z' })).toBe('ha_z');
    expect(readAdminKey({})).toBeNull();
    expect(readAdminKey({ authorization: '', 'x-homing-admin-key': '' })).toBeNull();
  });

  it('refuses other schemes, a token with spaces, disagreeing headers and repeated headers', () => {
    expect(kindOf(() => readAdminKey({ authorization: 'Basic aGE6' }))).toBe('missing-key');
    expect(kindOf(() => readAdminKey({ authorization: 'Bearer' }))).toBe('missing-key');
    expect(kindOf(() => readAdminKey({ authorization: 'Bearer a b' }))).toBe('missing-key');
    expect(kindOf(() => readAdminKey({ authorization: 'Bearer a', 'x-homing-admin-key': 'b' }))).toBe(
      'invalid-request',
    );
    expect(kindOf(() => readAdminKey({ 'x-homing-admin-key': ['a', 'b'] }))).toBe('invalid-request');
  });
});

describe('toAdminApiError', () => {
  it('maps store errors by kind, validation errors to 400, anything else to a 500 without its message', () => {
    expect(toAdminApiError(new StoreError('invalid-input', 'limit must be…'))).toMatchObject({
      kind: 'invalid-request',
      statusCode: 400,
      message: 'limit must be…',
    });
    expect(toAdminApiError(new StoreError('unknown-project', 'no project'))).toMatchObject({
      statusCode: 404,
    });
    for (const kind of ['closed', 'unreachable', 'storage', 'migration', 'data-dir'] as const) {
      const e = toAdminApiError(new StoreError(kind, 'at postgres://u:secret@db'));
      expect(e).toMatchObject({ kind: 'unavailable', statusCode: 503 });
      expect(e.message).not.toContain('secret');
    }
    const validation = Object.assign(new Error('querystring/limit must be integer'), { validation: [] });
    expect(toAdminApiError(validation)).toMatchObject({ kind: 'invalid-request', statusCode: 400 });
    const bug = toAdminApiError(new TypeError('x is undefined at row {"email":"a@b"}'));
    expect(bug).toMatchObject({ kind: 'internal', statusCode: 500, message: 'internal error' });
  });
});

describe('keyFingerprint', () => {
  it('names a key by 12 hex digits of its SHA-256, and never contains the key', () => {
    const key = 'ha_0123456789abcdef';
    expect(keyFingerprint(key)).toMatch(/^[0-9a-f]{12}$/);
    expect(keyFingerprint(key)).toBe(keyFingerprint(key));
    expect(keyFingerprint(key)).not.toBe(keyFingerprint(`${key}x`));
    expect(key).not.toContain(keyFingerprint(key));
  });
});

describe('the admin API: a Content-Type that is not a media type', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  /** Sends `head` (and `body`) on a new connection; the answer's status and JSON body. */
  async function call(head: string[], body = ''): Promise<{ status: number; json: unknown }> {
    const store = new NoopStore();
    const app = buildServer({ store, logger: false });
    closers.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const lines = [
      ...head,
      `Authorization: Bearer ${store.project.adminKey}`,
      'Host: x',
      'Connection: close',
    ];
    const raw = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(`${lines.join('\r\n')}\r\n\r\n${body}`));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('utf8')));
      s.on('error', () => {});
      s.on('close', () => resolve(got));
    });
    return {
      status: Number(raw.slice(9, 12)),
      json: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)),
    };
  }

  it('counts as none, as on ingest: a request without a body is served', async () => {
    for (const type of [';;;===', 'json']) {
      const erase = await call([
        'DELETE /api/persons/alice HTTP/1.1',
        `Content-Type: ${type}`,
        'Content-Length: 0',
      ]);
      expect({ type, ...erase }).toEqual({ type, status: 200, json: { deleted: 0, distinct_id: 'alice' } });
      const read = await call(['GET /api/events HTTP/1.1', `Content-Type: ${type}`]);
      expect({ type, status: read.status }).toEqual({ type, status: 200 });
    }
  });

  it('with a body: 415 unsupported-media-type naming the header, in the admin shape', async () => {
    const r = await call(
      ['DELETE /api/persons/alice HTTP/1.1', 'Content-Type: ;;;===', 'Content-Length: 2'],
      '{}',
    );
    expect(r).toEqual({
      status: 415,
      json: { error: 'unsupported-media-type', message: expect.stringContaining('Content-Type ";;;==="') },
    });
  });
});
