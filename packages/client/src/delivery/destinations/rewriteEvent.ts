import type { OutboxRecord } from '../../outbox/outbox.js';

/**
 * The record with its event's properties changed by `change` (which answers whether it changed
 * anything), re-serialised; the record itself when nothing changed or its JSON cannot be read:
 * a destination's mapping must never lose or hold back an event.
 */
export function rewriteEvent(
  record: OutboxRecord,
  change: (event: { event?: unknown }, properties: Record<string, unknown>) => boolean,
): OutboxRecord {
  try {
    const event = JSON.parse(record.json) as { event?: unknown; properties?: unknown };
    const properties = event.properties;
    if (properties === null || typeof properties !== 'object' || Array.isArray(properties)) return record;
    return change(event, properties as Record<string, unknown>)
      ? { ...record, json: JSON.stringify(event) }
      : record;
  } catch {
    return record;
  }
}
