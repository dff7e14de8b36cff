import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageError } from './postgres-errors.js';
import { freshDatabase, openPostgres, PG_URL, postgresReachable } from './postgres.test-helpers.js';
import type { PostgresStore } from './postgres.js';

const pgReachable = await postgresReachable();

describe('storageError: program_limit_exceeded (54000)', () => {
  it('is invalid input (a 4xx), not a storage failure answered 503 on every resend', () => {
    const err = Object.assign(
      new Error('index row size 3040 exceeds btree version 4 maximum 2704 for index "events_person"'),
      { code: '54000' },
    );
    const e = storageError(err, 'db:5432/homing');
    expect(e.kind).toBe('invalid-input');
    expect(e.message).toMatch(/over one of its limits \(index row size 3040 exceeds .*"events_person"\)/);
    expect(e.cause).toBe(err);
  });

  it('a refused privilege (42501) says what to grant, by what was refused', () => {
    const advice = (message: string) =>
      storageError(Object.assign(new Error(message), { code: '42501' }), 'db:5432/homing').message;
    expect(advice('permission denied for schema public')).toContain(
      'GRANT CREATE ON SCHEMA public TO <your user>',
    );
    expect(advice('permission denied for database homing')).toContain('GRANT CONNECT, CREATE ON DATABASE');
    expect(advice('permission denied for table schema_migrations')).toContain(
      'GRANT ALL ON ALL TABLES IN SCHEMA public',
    );
    expect(advice('permission denied for table schema_migrations')).not.toContain('ON SCHEMA public TO');
    expect(advice('must be owner of table events')).toContain("connect as the database's owner");
  });

  it('leaves the outages what they were: a full disk, a lost server', () => {
    expect(storageError(Object.assign(new Error('could not extend file'), { code: '53100' }), 'w').kind).toBe(
      'disk-full',
    );
    expect(
      storageError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'w').kind,
    ).toBe('unreachable');
  });

  it('a connection the server ended (a restart, a failover, a terminated backend) is said to be lost, not to check the URL', () => {
    for (const err of [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      new Error('Connection terminated unexpectedly'),
    ]) {
      const e = storageError(err, 'db:5432/homing');
      expect(e.kind).toBe('unreachable');
      expect(e.message).toMatch(
        /^lost the connection to PostgreSQL at db:5432\/homing .*restarted, failed over/,
      );
      expect(e.message).not.toContain('check --database');
    }
    // Refused at connect: the URL may well be wrong.
    expect(
      storageError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'w').message,
    ).toContain('check --database');
  });
});

describe.skipIf(!pgReachable)('PostgresStore: an index row over the limit', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let store: PostgresStore;
  beforeAll(async () => {
    db = await freshDatabase();
    store = await openPostgres(db.url);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('refuses the call as invalid-input, naming the index (ingest keeps ids under it; this is the net)', async () => {
    const project = await store.createProject('p');
    // 1000 characters (the store's own rule) of 3 bytes each, which pglz does not shrink.
    const id = Array.from({ length: 1000 }, (_, i) =>
      String.fromCharCode(0x4e00 + ((i * 7919) % 20000)),
    ).join('');
    const now = new Date().toISOString();
    const insert = store.insertEvents(project.id, [
      {
        uuid: '0193a5c0-0000-7000-8000-0000000000b1',
        event: 'e',
        distinctId: id,
        timestamp: now,
        originalTimestamp: null,
        receivedAt: now,
        properties: {},
      },
    ]);
    await expect(insert).rejects.toMatchObject({
      kind: 'invalid-input',
      message: expect.stringMatching(/events_person/),
    });
  });
});

describe.skipIf(!pgReachable)('PostgresStore: a role that may not create tables', () => {
  it('is told to connect as the owner or to GRANT CREATE ON SCHEMA public, not only "permission denied"', async () => {
    const db = await freshDatabase();
    const role = `homing_noprivs_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      // A database owned by another role, as PostgreSQL 15+ sets it up: no CREATE on public for others.
      const owned = new pg.Client({ connectionString: db.url });
      await owned.connect();
      await owned.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
      await owned.end();
      const url = new URL(db.url);
      url.username = role;
      const failed = await openPostgres(url.toString()).then(
        (store) => store.close().then(() => undefined),
        (error: unknown) => error,
      );
      expect(failed).toMatchObject({
        kind: 'storage',
        message: expect.stringContaining('GRANT CREATE ON SCHEMA public TO <your user>'),
      });
    } finally {
      await db.drop();
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
