/**
 * What tells one endpoint from another: destination, host and key. A client's default name is
 * a hash of its endpoints' identities, and an outbox's saved endpoints are compared by them.
 */
export function endpointIdentity(e: { destination: string; host: string; key: string }): string {
  return `${e.destination}\n${e.host}\n${e.key}`;
}
