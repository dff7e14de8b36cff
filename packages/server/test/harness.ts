import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/app.js';
import type { ServerOptions } from '../src/serverOptions.js';
import { freshDatabase, openPostgres, postgresReachable } from '../src/store/postgres.test-helpers.js';
import { openSqlite, tempDir } from '../src/store/sqlite.test-helpers.js';
import { StoreError } from '../src/store/errors.js';
import type { Project, Store, StoredEvent } from '../src/store/store.js';

/** A server listening on 127.0.0.1 with a fresh store and one project. */
export interface Running {
  url: string;
  app: FastifyInstance;
  store: Store;
  project: Project;
  /** Every stored event of the project (the store's query API, oldest first by timestamp). */
  events(filter?: { event?: string; distinctId?: string }): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

export type StoreKind = 'sqlite' | 'postgres';

const pgReachable = await postgresReachable();

/** The store kinds to run route tests against: SQLite always, PostgreSQL when it answers. */
export const STORE_KINDS: StoreKind[] = pgReachable ? ['sqlite', 'postgres'] : ['sqlite'];

async function openKind(kind: StoreKind): Promise<{ store: Store; dispose(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    return { store, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const db = await freshDatabase();
  const store = await openPostgres(db.url);
  return { store, dispose: db.drop };
}

export async function startServerOn(
  kind: StoreKind,
  options: Partial<ServerOptions> = {},
  wrap: (s: Store) => Store = (s) => s,
): Promise<Running> {
  const opened = await openKind(kind);
  const store = wrap(opened.store);
  const project = await opened.store.createProject('test');
  const app = buildServer({ logger: false, ...options, store });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    store,
    project,
    async events(filter = {}) {
      return opened.store.queryEvents({ projectId: project.id, limit: 1000, ...filter });
    },
    async close() {
      await app.close();
      await opened.store.close();
      await opened.dispose();
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** POSTs `body` (JSON-encoded unless a string or Buffer) and reads the whole answer. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw as BodyInit,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

export function v7(n = 0): string {
  const h = (Date.now() + n).toString(16).padStart(12, '0');
  const r = crypto.randomUUID();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${r.slice(15, 18)}-${r.slice(19)}`;
}

/** A pino destination that keeps what the server logs, for assertions on its lines. */
export function logCapture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

/**
 * A `wrap` for startServerOn: while `failing.on`, insertEvents rejects with a storage error
 * (an injected outage: the server must answer 503); every other call reaches the store.
 */
export function failingInserts(failing: { on: boolean }, message = 'disk I/O error (injected)') {
  return (inner: Store): Store =>
    new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'insertEvents' && failing.on) {
          return async () => {
            throw new StoreError('storage', message);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
}
