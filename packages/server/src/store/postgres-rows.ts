import { formatUuid } from './event-key.js';
import { keyHash } from './project-keys.js';
import type { Project, StoredEvent } from './store.js';

/** The columns of `events` a query reads, as `EventRow`. */
export const EVENT_COLUMNS =
  'seq, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties::text AS properties';

export interface EventRow {
  seq: string;
  key: Buffer;
  uuid_text: string | null;
  event: string;
  distinct_id: string;
  ts: string;
  original_ts: string | null;
  received_at: string;
  properties: string;
}

export interface ProjectRow {
  pk: string;
  id: string;
  name: string;
  write_key: string;
  admin_key: string;
  created_at: string;
  /** When its removal began; null for a live project. */
  removed_at: string | null;
}

/** The parameters of `INSERT_PROJECT`, in its order. */
export function projectParams(p: Project): unknown[] {
  return [p.id, p.name, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), p.createdAt];
}

export function toProject(r: ProjectRow): Project {
  return { id: r.id, name: r.name, writeKey: r.write_key, adminKey: r.admin_key, createdAt: r.created_at };
}

export function toEvent(projectId: string, r: EventRow): StoredEvent {
  return {
    projectId,
    seq: Number(r.seq),
    uuid: r.uuid_text ?? formatUuid(r.key),
    event: r.event,
    distinctId: r.distinct_id,
    timestamp: new Date(Number(r.ts)).toISOString(),
    originalTimestamp: r.original_ts,
    receivedAt: r.received_at,
    properties: JSON.parse(r.properties) as Record<string, unknown>,
  };
}
