import { OutboxStateError } from './errors.js';

/**
 * The rules every outbox applies to `getState`/`setState`, so state behaves the same in every
 * storage: keys are non-empty strings of at most 200 characters; values are stored as JSON, so
 * what `getState` answers is a copy as JSON would give it back.
 */
export const MAX_STATE_KEY_LENGTH = 200;

export function checkStateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_STATE_KEY_LENGTH) {
    throw new OutboxStateError(
      String(key),
      `the key must be a string of 1 to ${MAX_STATE_KEY_LENGTH} characters`,
    );
  }
}

/**
 * The JSON text to store for `value`, or undefined when the key should be removed
 * (`setState(key, undefined)`). Rejects what JSON cannot hold: cycles, BigInt, a bare function
 * or symbol.
 */
export function encodeStateValue(key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new OutboxStateError(key, error instanceof Error ? error.message : String(error));
  }
  if (json === undefined) throw new OutboxStateError(key, `a ${typeof value} cannot be stored as JSON`);
  return json;
}
