import { createHash } from 'node:crypto';

/**
 * A uuid for an event the client sent without one, derived from its content so that a resend
 * of the same event is a duplicate (design 001's "server-side insert id", done right: derived,
 * not random). Two genuinely separate events with identical content, time included, collapse
 * into one; a client that cares sends its own uuid. The result is an RFC 9562 version 8
 * (custom) UUID, so the store keys it by its 16 bytes.
 */
export function contentUuid(parts: {
  event: string;
  distinctId: string;
  /** The client's own timestamp (before correction), or null: the receive time differs per resend. */
  timestamp: string | null;
  properties: unknown;
}): string {
  const h = createHash('sha256')
    .update('homing-content-uuid\0')
    .update(parts.event)
    .update('\0')
    .update(parts.distinctId)
    .update('\0')
    .update(parts.timestamp ?? '')
    .update('\0')
    .update(canonicalJson(parts.properties))
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** JSON with object keys sorted, so the same content hashes the same whatever its key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}
