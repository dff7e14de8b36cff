/**
 * The one contract every policy implements. A policy runs `fn` under some rule
 * (retry it, time it out, refuse it while a circuit is open, ...).
 */
export interface PolicyContext {
  /**
   * Aborted when the caller's signal aborts or an enclosing timeout fires.
   * Created lazily: a function that never reads it costs no AbortController.
   */
  readonly signal: AbortSignal;
  /** 0 for the first attempt; set by retry. */
  readonly attempt: number;
}

export interface Policy {
  execute<T>(fn: (context: PolicyContext) => T | PromiseLike<T>, signal?: AbortSignal): Promise<T>;
}
