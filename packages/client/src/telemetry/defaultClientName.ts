import type { ResolvedEndpoint } from '../delivery/deliveryOptions.js';
import { endpointIdentity } from '../delivery/endpointIdentity.js';

/** The name every client the app gave no `name` had before names were made per endpoint set. */
export const SHARED_DEFAULT_NAME = 'default';

/**
 * The name of a client whose app gave none: `default-` and 16 hex digits of a hash of where it
 * sends (each endpoint's destination, host and key, in any order). One name for all of them
 * gave an app and a library in it (or two programs of one user) one outbox: whichever held the
 * delivery lock sent the other's events to its own server with its own key, under one install
 * id, and one's setConsent('granted') released the other's pending events. With only custom
 * endpoints (functions: nothing to tell two apps apart by) the name stays `default`.
 *
 * Not a secret and not a security boundary (keys show in the saved endpoint list anyway): a
 * plain FNV-1a, the same in Node and browsers, without waiting for `crypto.subtle`.
 */
export function defaultClientName(endpoints: readonly ResolvedEndpoint[]): string {
  const where = endpoints.filter((e) => e.destination !== 'custom').map(endpointIdentity);
  if (where.length === 0) return SHARED_DEFAULT_NAME;
  const text = [...new Set(where)].sort().join('\n\n');
  return `${SHARED_DEFAULT_NAME}-${fnv1a(text, 0x811c9dc5)}${fnv1a(text, 0x050c5d1f)}`;
}

/** 32-bit FNV-1a over the UTF-16 code units of `text`, from `basis`, as 8 hex digits. */
function fnv1a(text: string, basis: number): string {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
