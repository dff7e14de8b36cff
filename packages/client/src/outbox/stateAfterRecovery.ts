/**
 * Which state a durable outbox keeps when it takes over from the memory outbox that stood in for
 * it (`RecoveringOutbox`): the value to store, or undefined to leave what it holds alone.
 *
 * What the durable outbox holds was written by another process sharing the directory, or by an
 * earlier run, and is kept: a consent, install id or identity stored there is the install's (the
 * stand-in's is only what this process made while it could read none), and another process's
 * breaker state may be newer than ours. A key it does not hold takes the stand-in's value. Two
 * keys the delivery writes are merged instead (their names are the delivery's; the test of this
 * file holds the two together):
 * - a breaker snapshot: the one whose state changed last, so a restart after recovery still
 *   waits out an endpoint this process found down (another process's later change still wins);
 * - the endpoint list (`homing status` shows the breakers it names): both lists, bounded as the
 *   delivery bounds it, else this process's endpoints went unlisted until its next start.
 */
export function stateToKeep(key: string, fromMemory: unknown, stored: unknown): unknown {
  if (stored === undefined || stored === null) return fromMemory;
  if (key === ENDPOINT_LIST_KEY) return endpointList(stored, fromMemory);
  if (key.startsWith(BREAKER_KEY_PREFIX) && changedLater(fromMemory, stored)) return fromMemory;
  return undefined;
}

/** `breakerStateKey(id)` of the delivery (`EndpointChannel.ts`): `breaker:<endpoint id>`. */
export const BREAKER_KEY_PREFIX = 'breaker:';
/** `ENDPOINTS_STATE_KEY` of the delivery (`EndpointChannel.ts`). */
export const ENDPOINT_LIST_KEY = 'delivery:endpoints';
/** The delivery keeps the last 32 endpoint ids (`Delivery.recordEndpoints`). */
const MAX_ENDPOINTS = 32;

function endpointList(stored: unknown, fromMemory: unknown): unknown {
  if (!Array.isArray(stored) || !Array.isArray(fromMemory)) return undefined;
  const ids = new Set<unknown>(stored);
  const before = ids.size;
  for (const id of fromMemory) if (typeof id === 'string') ids.add(id);
  return ids.size === before ? undefined : [...ids].slice(-MAX_ENDPOINTS);
}

/** A circuit breaker snapshot's `since`: when its circuit entered the state it is in. */
function changedLater(fromMemory: unknown, stored: unknown): boolean {
  const since = (snapshot: unknown): number | undefined => {
    const value = (snapshot as { since?: unknown } | null)?.since;
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  };
  const ours = since(fromMemory);
  const theirs = since(stored);
  return ours !== undefined && (theirs === undefined || ours > theirs);
}
