/** The SQLite store's rows and what they become. */
import { formatUuid } from './event-key.js';
import type { Project, StoredEvent } from './store.js';
import type { SuppressionRow } from './suppressions.js';

export interface EventRow {
  rowid: number;
  key: Buffer;
  uuid_text: string | null;
  event: string;
  distinct_id: string;
  ts: number;
  original_ts: string | null;
  received_at: string;
  properties: string;
}

export interface ProjectRow {
  pk: number;
  id: string;
  name: string;
  write_key: string;
  admin_key: string;
  created_at: string;
  /** When its removal began; null for a live project. */
  removed_at: string | null;
}

export const EVENT_COLUMNS =
  'rowid, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties';

export function toSuppression(r: {
  id: number;
  project_id: string;
  hash: Buffer;
  erased_at_ms: number;
}): SuppressionRow {
  return { id: Number(r.id), projectId: r.project_id, hash: r.hash, erasedAtMs: Number(r.erased_at_ms) };
}

export function toProject(r: ProjectRow): Project {
  return { id: r.id, name: r.name, writeKey: r.write_key, adminKey: r.admin_key, createdAt: r.created_at };
}

export function toEvent(projectId: string, r: EventRow): StoredEvent {
  return {
    projectId,
    seq: r.rowid,
    uuid: r.uuid_text ?? formatUuid(r.key),
    event: r.event,
    distinctId: r.distinct_id,
    timestamp: new Date(r.ts).toISOString(),
    originalTimestamp: r.original_ts,
    receivedAt: r.received_at,
    properties: JSON.parse(r.properties) as Record<string, unknown>,
  };
}
