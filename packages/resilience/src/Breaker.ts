/**
 * Decides when a closed circuit opens. The policy tells it every counted outcome while closed;
 * `failure()` answers true when the circuit should open. State is plain JSON so a breaker
 * survives a process restart through the policy's snapshot.
 */
export interface Breaker {
  success(): void;
  /** Records a failure; true means: open the circuit now. */
  failure(): boolean;
  /** Forgets everything (the circuit closed again, or was reset). */
  reset(): void;
  /** JSON-safe state, wall-clock based. */
  toJSON(): unknown;
  /** Restores `toJSON()` output; throws a ConfigError naming `option` when it is malformed. */
  restore(state: unknown, option: string): void;
}
