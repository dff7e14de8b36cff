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
 *
 * `identify()` inside one is different: the app's id changes at once, so its `$identify` must
 * go out too, or later events would be about a user the destination never linked. It is held
 * (`afterHooks`) and tracked once the outermost hook has returned, through the hooks like any
 * event; an `identify()` in the hooks run for such a held `$identify` is refused whole
 * (`identifyRefusal`), or each would make another without end.
 */
export class RunningHook {
  private name: string | undefined = undefined;
  /** Warned once per hook. */
  private readonly warned = new Set<string>();
  /** What waits for the outermost hook to return (an `identify()`'s `$identify`). */
  private held: (() => void)[] = [];
  /** Tracking what was held: the hooks running now run for it. */
  private draining = false;

  constructor(private readonly logger: Logger) {}

  /** Notes that `hook` runs; answers what ran before, for `leave`. */
  enter(hook: string): string | undefined {
    const outer = this.name;
    this.name = hook;
    return outer;
  }

  leave(outer: string | undefined): void {
    this.name = outer;
    if (outer === undefined && this.held.length > 0) this.drain();
  }

  /** The hook running now, if any. */
  get running(): string | undefined {
    return this.name;
  }

  /** Runs `then` once no hook runs any more (`running` must be set). */
  afterHooks(then: () => void): void {
    this.held.push(then);
  }

  /**
   * Why an `identify()` made now is refused whole: it is made in the hooks run for an `identify()`'s
   * `$identify` held until the hooks returned (warned once); else undefined.
   */
  identifyRefusal(): string | undefined {
    if (!this.draining || this.name === undefined) return undefined;
    const key = `identify:${this.name}`;
    if (!this.warned.has(key)) {
      this.warned.add(key);
      this.logger.warn(
        `identify ignored: made inside ${this.name} while it ran for the $identify of an identify() made inside a hook, it would make another without end`,
      );
    }
    return `identify inside ${this.name}`;
  }

  private drain(): void {
    const held = this.held;
    this.held = [];
    const wasDraining = this.draining;
    this.draining = true;
    try {
      for (const then of held) {
        try {
          then();
        } catch {
          // Each one counts and reports its own failures (`enqueue`); one must not cost the next.
        }
      }
    } finally {
      this.draining = wasDraining;
    }
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
