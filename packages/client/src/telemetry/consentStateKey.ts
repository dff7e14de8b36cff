/**
 * The outbox state key of the remembered consent. In a file of its own so the identity store
 * can read it at exit without importing the client.
 */
export const CONSENT_STATE_KEY = 'consent';
