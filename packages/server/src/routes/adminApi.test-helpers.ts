import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import Fastify, { type FastifyPluginAsync } from 'fastify';
import pino from 'pino';
import { freshDatabase, openPostgres, postgresReachable } from '../store/postgres.test-helpers.js';
import { openSqlite, tempDir } from '../store/sqlite.test-helpers.js';
import type { IngestEvent, Project, Store, StoredEvent } from '../store/store.js';
import { buildServer } from '../app.js';
import type { ServerOptions } from '../serverOptions.js';

export type Backend = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL when it answers (HOMING_REQUIRE_SERVICES=1 makes its absence fail). */
export const BACKENDS: Backend[] = (await postgresReachable()) ? ['sqlite', 'postgres'] : ['sqlite'];

/** A fresh, migrated store of `backend`, and a function that closes and removes it. */
export async function freshStore(backend: Backend): Promise<{ store: Store; dispose(): Promise<void> }> {
  if (backend === 'sqlite') {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    return {
      store,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const db = await freshDatabase();
  const store = await openPostgres(db.url);
  return {
    store,
    async dispose() {
      await store.close();
      await db.drop();
    },
  };
}

/** The JSON lines of an NDJSON body (an export, a log capture). */
export const ndjsonLines = (text: string): any[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface AdminApp {
  store: Store;
  /** The project the tests act on, and a second one that must never be touched by them. */
  project: Project;
  other: Project;
  url: string;
  /** Every line the server logged (pino JSON). */
  logs: string[];
  call(
    method: string,
    path: string,
    init?: { key?: string | null; headers?: Record<string, string> },
  ): Promise<Reply>;
  close(): Promise<void>;
}

/** A bare Fastify with `plugins` registered on a fresh store, listening on 127.0.0.1. */
export async function startAdminApp(
  backend: Backend,
  plugins: FastifyPluginAsync<{ store: Store }>[],
  fastifyOptions: { maxParamLength?: number; store?: Store } = {},
): Promise<AdminApp> {
  const fresh = fastifyOptions.store ? null : await freshStore(backend);
  const store = fastifyOptions.store ?? fresh!.store;
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const app = Fastify({
    loggerInstance: pino({ level: 'trace' }, sink),
    routerOptions: { maxParamLength: fastifyOptions.maxParamLength ?? 100 },
  });
  for (const plugin of plugins) await app.register(plugin, { store });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const project = await store.createProject('tests');
  const other = await store.createProject('other');
  return {
    store,
    project,
    other,
    url,
    logs,
    async call(method, path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      const key = init.key === undefined ? project.adminKey : init.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      const res = await fetch(`${url}${path}`, { method, headers });
      const text = await res.text();
      let json: unknown = undefined;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, headers: res.headers, text, json };
    },
    async close() {
      await app.close();
      await fresh?.dispose();
    },
  };
}

const T0 = Date.parse('2026-03-01T00:00:00.000Z');

/** An event as the store takes it; `at` is ms after 2026-03-01T00:00Z. */
export function ingestEvent(over: Partial<IngestEvent> & { at?: number } = {}): IngestEvent {
  const { at, ...rest } = over;
  const ts = new Date(T0 + (at ?? 0)).toISOString();
  return {
    uuid: randomUUID(),
    event: 'page_view',
    distinctId: 'alice',
    timestamp: ts,
    originalTimestamp: ts,
    receivedAt: ts,
    properties: { path: '/home' },
    ...rest,
  };
}

export const T0_ISO = new Date(T0).toISOString();

/** Polls `check` until it holds (generous limit; no timing is asserted). */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  limitMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A whole server on loopback over a fresh store, with one project, for end-to-end ingest tests. */
export interface IngestServer {
  url: string;
  store: Store;
  project: Project;
  /** POSTs `body` as JSON; `json` is the parsed answer (undefined when empty). */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  /** `DELETE /api/persons/:id` with the admin key (must answer 200); answers how many it deleted. */
  erase(distinctId: string): Promise<number>;
  /** What the store holds of the person. */
  personEvents(distinctId: string): Promise<StoredEvent[]>;
}

/** Starts an IngestServer; `cleanups` gets what stops it and drops its store. */
export async function startIngestServer(
  backend: Backend,
  cleanups: Array<() => Promise<void>>,
  options: Omit<Partial<ServerOptions>, 'store'> = {},
): Promise<IngestServer> {
  const fresh = await freshStore(backend);
  const store = fresh.store;
  const app = buildServer({ logger: false, ...options, store });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await app.close();
    await fresh.dispose();
  });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const project = await store.createProject('ingest');
  return {
    url,
    store,
    project,
    async post(path, body, headers = {}) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
    },
    async erase(distinctId) {
      const res = await fetch(`${url}/api/persons/${encodeURIComponent(distinctId)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${project.adminKey}` },
      });
      if (res.status !== 200) throw new Error(`DELETE /api/persons answered ${res.status}`);
      return ((await res.json()) as { deleted: number }).deleted;
    },
    async personEvents(distinctId) {
      const out: StoredEvent[] = [];
      for await (const e of store.personEvents(project.id, distinctId)) out.push(e);
      return out;
    },
  };
}
