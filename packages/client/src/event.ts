/** The one event model, end to end (see shared/DESIGN.md). */
export interface HomingEvent {
  /** UUIDv7 made by the client; the idempotency key all the way to the store. */
  uuid: string;
  event: string;
  distinct_id: string;
  /** ISO 8601, client clock. */
  timestamp: string;
  properties: Record<string, unknown>;
}
