import type { DropReason } from './outbox/outbox.js';

/** Reasons an event can be dropped anywhere in the client, each counted in `stats().dropped`. */
export type ClientDropReason = DropReason | 'sampling' | 'rejected' | 'invalid' | 'disabled';

/** What `client.on(name, listener)` can listen to. */
export interface ClientEventMap {
  /** Events were dropped; never silent. */
  drop: { reason: ClientDropReason; count: number; detail?: string };
  /** An endpoint stored `count` events of a batch (one that stored none is not named). */
  sent: { endpoint: string; count: number };
  /** A delivery attempt failed (it will be retried unless `permanent`). */
  'delivery-error': { endpoint: string; error: unknown; permanent: boolean; retryInMs?: number };
  /** Records were moved to the dead-letter store. */
  'dead-letter': { endpoint: string; count: number; reason: string };
  /** An endpoint's circuit breaker changed state. */
  'breaker-state': { endpoint: string; state: 'closed' | 'open' | 'half-open' | 'isolated' };
}

export type ClientEventName = keyof ClientEventMap;

/** Every name `on()` takes. */
export const CLIENT_EVENT_NAMES: ReadonlySet<string> = new Set<ClientEventName>([
  'drop',
  'sent',
  'delivery-error',
  'dead-letter',
  'breaker-state',
]);
export type EmitClientEvent = <K extends ClientEventName>(name: K, payload: ClientEventMap[K]) => void;
