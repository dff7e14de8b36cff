import type { NodeProcessLike } from './runtimeGlobals.js';

/**
 * Records Node's uncaught exceptions and unhandled rejections without changing what Node
 * does with them. The rules, from Node's own semantics:
 *
 * - `uncaughtExceptionMonitor` runs before any `uncaughtException` listener and before Node
 *   prints the error and exits, whether or not the app handles it, and adding it changes
 *   nothing. It also sees unhandled rejections that Node turns into crashes (the default
 *   `--unhandled-rejections=throw` with no `unhandledRejection` listener, and `strict`), with
 *   origin `unhandledRejection`. Every crash is recorded there, synchronously.
 * - A monitor cannot delay the exit, so with `persistBeforeCrashMs > 0` Homing also listens to
 *   `uncaughtException`. When it is the only listener (the process was going to die) it waits
 *   for `persist()` up to that budget, removes itself and throws the same value again on the
 *   next tick, so Node crashes as it would have: exit code 1 (or the app's `process.exitCode`
 *   semantics), `exit` listeners, the error printed to stderr. The difference: Node's
 *   "file:line / source / ^" header points at Homing's rethrow, and the app's other timers
 *   may run during the wait. When the app has its own listener, Homing does nothing more;
 *   "has" as the monitor saw it, since a `once` listener is gone before Homing's runs.
 *   Skipped under `--abort-on-uncaught-exception` (a listener would stop the abort) and in
 *   `strict` mode (Node would print a warning after the handled exception).
 * - The clients of one copy of the package share one set of listeners on `process` (a monitor,
 *   a crash holder, `newListener`/`removeListener` and `unhandledRejection` while needed), so
 *   any number of clients never makes Node print a MaxListenersExceededWarning; each client's
 *   part is a `Member` of it. Copies of the package (two versions in one app) each add their
 *   own set and mark their listeners with a shared `Symbol.for` key, so none of them counts
 *   another's listener as the app's own. Of the crash holders, the first one Node calls leads:
 *   it waits for every holder's `persist()` (each client within its own budget), removes them
 *   all and throws once, so the crash happens exactly as with one client.
 * - An `unhandledRejection` listener turns Node's default crash into nothing, so Homing
 *   listens only while the app has a listener of its own (tracked through `newListener` /
 *   `removeListener`): then nothing crashes either way and Homing just records. It stops
 *   listening in the same call that removed the app's last listener (a `once` one included), so
 *   a rejection later in that tick crashes as it would without Homing. In `none`
 *   mode it always listens (nothing would be printed anyway). In `warn` modes, with no app
 *   listener, rejections are not recorded: listening would silence Node's warning.
 */
export type RejectionMode = 'throw' | 'strict' | 'warn' | 'none' | 'warn-with-error-code';

export interface NodeUnhandledHooks {
  /** Records one error synchronously; `fatal` when the process is going to exit because of it. */
  record(error: unknown, origin: 'uncaughtException' | 'unhandledRejection', fatal: boolean): void;
  persist(): Promise<void>;
  /** 0: record synchronously only, let Node crash at once. */
  persistBeforeCrashMs: number;
  captureExceptions: boolean;
  captureRejections: boolean;
  onInternalError(error: unknown): void;
}

/**
 * The key on every process listener Homing adds. `Symbol.for`, so clients from different
 * copies of the package see each other's listeners too. On a crash holder its value is a
 * `CrashHold`; on the other listeners `true`.
 */
const HOMING_LISTENER = Symbol.for('homing.processListener');

/** What a crash holder offers the one that leads the crash (a stable shape across copies). */
interface CrashHold {
  /** Resolves when this client's `persist()` settled or its budget ran out; never rejects. */
  hold(): Promise<void>;
  /** Removes the holder, and records that `error` is being thrown again (not a new crash). */
  release(error: unknown): void;
}

type Listener = (...args: any[]) => void;

function mark<T extends Listener>(listener: T, value: CrashHold | true): T {
  (listener as unknown as Record<symbol, unknown>)[HOMING_LISTENER] = value;
  return listener;
}

function homingMark(listener: unknown): unknown {
  return typeof listener === 'function'
    ? (listener as unknown as Record<symbol, unknown>)[HOMING_LISTENER]
    : undefined;
}

function isCrashHold(value: unknown): value is CrashHold {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as CrashHold).hold === 'function' &&
    typeof (value as CrashHold).release === 'function'
  );
}

export function rejectionMode(proc: NodeProcessLike): RejectionMode {
  let mode: RejectionMode = 'throw';
  const args = [...(proc.env['NODE_OPTIONS'] ?? '').split(/\s+/), ...proc.execArgv];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let v: string | undefined;
    if (a.startsWith('--unhandled-rejections=')) v = a.slice('--unhandled-rejections='.length);
    else if (a === '--unhandled-rejections') v = args[++i];
    if (v === 'throw' || v === 'strict' || v === 'warn' || v === 'none' || v === 'warn-with-error-code')
      mode = v;
  }
  return mode;
}

function hasFlag(proc: NodeProcessLike, flag: string): boolean {
  return proc.execArgv.includes(flag) || (proc.env['NODE_OPTIONS'] ?? '').split(/\s+/).includes(flag);
}

/** One client's part in its process's listeners: what it records, its persist() and budget. */
class Member {
  private readonly recorded = new WeakSet<object>();

  constructor(
    readonly hooks: NodeUnhandledHooks,
    /** Holds a crash until its persist() settles (persistBeforeCrashMs > 0, where Node allows it). */
    readonly holds: boolean,
  ) {}

  record(error: unknown, origin: 'uncaughtException' | 'unhandledRejection', fatal: boolean): void {
    // The same value can reach a client twice (the monitor, then a rejection listener).
    if (typeof error === 'object' && error !== null) {
      if (this.recorded.has(error)) return;
      this.recorded.add(error);
    }
    try {
      this.hooks.record(error, origin, fatal);
    } catch (e) {
      this.internalError(e);
    }
  }

  persist(): Promise<void> {
    try {
      return this.hooks.persist().catch((e: unknown) => this.internalError(e));
    } catch (e) {
      this.internalError(e);
      return Promise.resolve();
    }
  }

  /** Resolves when persist() settled or the budget ran out; never rejects. */
  hold(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Not unref'd: this timer is what keeps the process alive until the crash is replayed.
    const budget = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, this.hooks.persistBeforeCrashMs)),
    );
    return Promise.race([this.persist(), budget]).finally(() => clearTimeout(timer));
  }

  internalError(error: unknown): void {
    try {
      this.hooks.onInternalError(error);
    } catch {
      // The app's logger threw: nothing is left to tell.
    }
  }
}

/**
 * The listeners one copy of the package keeps on one `process`, shared by all its clients:
 * each is on `process` while some member needs it, and dispatches to the members.
 */
class ProcessListeners {
  private readonly members = new Set<Member>();
  private readonly mode: RejectionMode;
  /** Whether Node lets a listener delay a crash at all (see the rules above). */
  readonly mayHold: boolean;
  private monitoring = false;
  private holdInstalled = false;
  /** A crash led by this set is being held or was thrown again: no second hold. */
  private holding = false;
  private rethrowing: { value: unknown } | null = null;
  /**
   * The last error the monitor saw, and whether the app had an `uncaughtException` listener
   * then. Node emits the monitor just before `uncaughtException`, whose listeners it copies
   * first: an app listener added with `once`, or one that removes itself, is gone from
   * `process` by the time Homing's holder runs, yet Node called it, so nothing crashes.
   */
  private monitored: { value: unknown; appListened: boolean } | null = null;
  private watchingListeners = false;
  private rejectionListening = false;

  constructor(private readonly proc: NodeProcessLike) {
    this.mode = rejectionMode(proc);
    this.mayHold = !hasFlag(proc, '--abort-on-uncaught-exception') && this.mode !== 'strict';
  }

  add(member: Member): void {
    this.members.add(member);
    this.update();
  }

  remove(member: Member): void {
    this.members.delete(member);
    this.update();
  }

  /** Puts on `process` the listeners the members need, and takes off the others. */
  private update(): void {
    const members = [...this.members];
    const monitor = members.length > 0;
    if (monitor !== this.monitoring) {
      this.monitoring = monitor;
      if (monitor) this.proc.on('uncaughtExceptionMonitor', this.onMonitor);
      else this.proc.removeListener('uncaughtExceptionMonitor', this.onMonitor);
    }
    const hold = members.some((m) => m.holds);
    if (hold && !this.holdInstalled && !this.holding) {
      this.proc.on('uncaughtException', this.onUncaught);
      this.holdInstalled = true;
    } else if (!hold && this.holdInstalled && !this.holding) {
      this.proc.removeListener('uncaughtException', this.onUncaught);
      this.holdInstalled = false;
    }
    const watch = members.some((m) => m.hooks.captureRejections);
    if (watch !== this.watchingListeners) {
      this.watchingListeners = watch;
      if (watch) {
        this.proc.on('newListener', this.onNewListener);
        this.proc.on('removeListener', this.onRemoveListener);
      } else {
        this.proc.removeListener('newListener', this.onNewListener);
        this.proc.removeListener('removeListener', this.onRemoveListener);
      }
    }
    this.listenRejections(this.wantsRejections());
  }

  /** Listeners that are not Homing's, any client's of any copy. */
  private appListeners(event: string): number {
    return this.proc.listeners(event).filter((l) => homingMark(l) === undefined).length;
  }

  /** Errors from another copy's holder go to one client's logger, the first one's. */
  private internalError(error: unknown): void {
    this.members.values().next().value?.internalError(error);
  }

  private readonly onMonitor = mark((error: unknown, origin: unknown): void => {
    if (this.rethrowing !== null && this.rethrowing.value === error) return;
    const kind = origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException';
    const fatal = this.appListeners('uncaughtException') === 0;
    // Kept for the holder only: it is the one to read it, right after, and drop it.
    if (this.holdInstalled) this.monitored = { value: error, appListened: !fatal };
    for (const m of [...this.members]) {
      if (kind === 'uncaughtException' ? !m.hooks.captureExceptions : !m.hooks.captureRejections) continue;
      m.record(error, kind, fatal);
      // Node exits right after this returns: start the write, it may or may not land.
      if (fatal && !(m.holds && this.holdInstalled)) void m.persist();
    }
  }, true);

  private readonly crashHold: CrashHold = {
    hold: () =>
      Promise.all([...this.members].filter((m) => m.holds).map((m) => m.hold())).then(() => undefined),
    release: (error) => {
      this.proc.removeListener('uncaughtException', this.onUncaught);
      this.holdInstalled = false;
      this.rethrowing = { value: error };
    },
  };

  private readonly onUncaught = mark((error: unknown): void => {
    const monitored = this.monitored;
    this.monitored = null;
    // Without a monitor call first, the app emitted `uncaughtException` itself: only the
    // listeners on `process` now can tell.
    const appListened = monitored !== null && Object.is(monitored.value, error) && monitored.appListened;
    if (this.holding || appListened || this.appListeners('uncaughtException') > 0) return;
    const holds = this.proc.listeners('uncaughtException').map(homingMark).filter(isCrashHold);
    // Another copy's holder was called first and leads this crash, this one included.
    if (holds[0] !== this.crashHold) return;
    this.holding = true;
    void Promise.all(
      holds.map((h) => {
        try {
          return h.hold().catch((e: unknown) => this.internalError(e));
        } catch (e) {
          this.internalError(e);
          return undefined;
        }
      }),
    ).finally(() => {
      for (const h of holds) {
        try {
          h.release(error);
        } catch (e) {
          this.internalError(e);
        }
      }
      this.proc.nextTick(() => {
        throw error;
      });
    });
  }, this.crashHold);

  private readonly onRejection = mark((reason: unknown): void => {
    for (const m of [...this.members]) {
      if (m.hooks.captureRejections) m.record(reason, 'unhandledRejection', false);
    }
  }, true);

  private wantsRejections(): boolean {
    return this.watchingListeners && (this.mode === 'none' || this.appListeners('unhandledRejection') > 0);
  }

  private listenRejections(on: boolean): void {
    if (on === this.rejectionListening) return;
    this.rejectionListening = on;
    if (on) this.proc.on('unhandledRejection', this.onRejection);
    else this.proc.removeListener('unhandledRejection', this.onRejection);
  }

  private followAppRejectionListeners(): void {
    queueMicrotask(() => this.listenRejections(this.wantsRejections()));
  }

  private readonly onNewListener = (event: unknown, listener: unknown): void => {
    if (event === 'unhandledRejection' && homingMark(listener) === undefined) {
      // Listen now, synchronously: a rejection may be processed before a microtask runs. The
      // app's listener is not on `process` yet, so the count is looked at again afterwards.
      this.listenRejections(true);
      this.followAppRejectionListeners();
    }
  };

  private readonly onRemoveListener = (event: unknown, listener: unknown): void => {
    if (event !== 'unhandledRejection' || homingMark(listener) !== undefined) return;
    // Node processes every pending rejection in one loop, with no microtask in between: after
    // a `once` listener took the first, a listener of Homing's left until a microtask would
    // swallow the second. So stop now, when Homing's is the only listener left. With more left
    // (another copy's), removing one could shift the array `removeAllListeners` is walking and
    // make it throw into the app: that case waits for a microtask.
    if (this.proc.listenerCount('unhandledRejection') <= 1) this.listenRejections(this.wantsRejections());
    else this.followAppRejectionListeners();
  };
}

/** Per `process` (tests pass stand-ins), the listeners of this copy of the package. */
const processListeners = new WeakMap<NodeProcessLike, ProcessListeners>();

export function installNodeUnhandled(proc: NodeProcessLike, hooks: NodeUnhandledHooks): () => void {
  let listeners = processListeners.get(proc);
  if (listeners === undefined) {
    listeners = new ProcessListeners(proc);
    processListeners.set(proc, listeners);
  }
  const member = new Member(hooks, listeners.mayHold && hooks.persistBeforeCrashMs > 0);
  listeners.add(member);
  return () => listeners.remove(member);
}
