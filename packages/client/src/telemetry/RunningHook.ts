import type { Logger } from '../logger.js';

/**
 * Which of the app's hooks in `track()`'s pipeline is running now, if any: `beforeSend` or the
 * redaction hooks (`redaction.custom`, `redaction.patterns.redact`). (The `now` clock guards
 * itself: see `saneClock`. Sampling runs no app code.)
 *
 * An event tracked from inside one (a `beforeSend` that tracks an audit event) is dropped as
 * `rejected`: built, it would run the same hook again, which tracks again, until the stack
 * ran out (one app call became ~850 events, some counted nowhere). Building it with that hook
 * skipped is no safer: the redaction hooks remove what must not leave the device, and
 * `beforeSend` drops or rewrites what the app does not want sent as it is; the event so built
 * would be the one that escaped them. A `sent` listener can track what was sent.
 */
export class RunningHook {
  private name: string | undefined = undefined;
  /** Warned once per hook. */
  private readonly warned = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Notes that `hook` runs; answers what ran before, for `leave`. */
  enter(hook: string): string | undefined {
    const outer = this.name;
    this.name = hook;
    return outer;
  }

  leave(outer: string | undefined): void {
    this.name = outer;
  }

  /** The drop detail of an event tracked now, when a hook runs (warned once per hook); else undefined. */
  refusal(): string | undefined {
    const hook = this.name;
    if (hook === undefined) return undefined;
    if (!this.warned.has(hook)) {
      this.warned.add(hook);
      this.logger.warn(
        `an event tracked inside ${hook} is dropped (rejected): built, it would run ${hook} again, without end`,
      );
    }
    return `tracked inside ${hook}`;
  }
}
