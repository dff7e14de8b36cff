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
 *   may run during the wait. When the app has its own listener, Homing does nothing more.
 *   Skipped under `--abort-on-uncaught-exception` (a listener would stop the abort) and in
 *   `strict` mode (Node would print a warning after the handled exception).
 * - Several Homing clients in one process (two `createTelemetry` calls, or two copies of the
 *   package) mark their listeners with a shared `Symbol.for` key, so none of them counts
 *   another's listener as the app's own. Of the crash holders, the first one Node calls leads:
 *   it waits for every holder's `persist()` (each within its own budget), removes them all and
 *   throws once, so the crash happens exactly as with one client.
 * - An `unhandledRejection` listener turns Node's default crash into nothing, so Homing
 *   listens only while the app has a listener of its own (tracked through `newListener` /
 *   `removeListener`): then nothing crashes either way and Homing just records. In `none`
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

export function installNodeUnhandled(proc: NodeProcessLike, hooks: NodeUnhandledHooks): () => void {
  const mode = rejectionMode(proc);
  const recorded = new WeakSet<object>();
  let rethrowing: { value: unknown } | null = null;
  let holding = false;
  let holdInstalled = false;

  const recordOnce = (
    error: unknown,
    origin: 'uncaughtException' | 'unhandledRejection',
    fatal: boolean,
  ): void => {
    if (typeof error === 'object' && error !== null) {
      if (recorded.has(error)) return;
      recorded.add(error);
    }
    try {
      hooks.record(error, origin, fatal);
    } catch (e) {
      hooks.onInternalError(e);
    }
  };

  /** Listeners that are not Homing's, any client's. */
  const appListeners = (event: string): number =>
    proc.listeners(event).filter((l) => homingMark(l) === undefined).length;

  const onMonitor = mark((error: unknown, origin: unknown): void => {
    if (rethrowing !== null && rethrowing.value === error) return;
    const kind = origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException';
    if (kind === 'uncaughtException' && !hooks.captureExceptions) return;
    if (kind === 'unhandledRejection' && !hooks.captureRejections) return;
    const fatal = appListeners('uncaughtException') === 0;
    recordOnce(error, kind, fatal);
    if (fatal && !holdInstalled) {
      // Node exits right after this returns: start the write, it may or may not land.
      hooks.persist().catch(hooks.onInternalError);
    }
  }, true);

  const crashHold: CrashHold = {
    hold() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      // Not unref'd: this timer is what keeps the process alive until the crash is replayed.
      const budget = new Promise<void>(
        (resolve) => (timer = setTimeout(resolve, hooks.persistBeforeCrashMs)),
      );
      return Promise.race([hooks.persist().catch(hooks.onInternalError), budget]).finally(() =>
        clearTimeout(timer),
      );
    },
    release(error) {
      proc.removeListener('uncaughtException', onUncaught);
      holdInstalled = false;
      rethrowing = { value: error };
    },
  };

  const onUncaught = mark((error: unknown): void => {
    if (holding || appListeners('uncaughtException') > 0) return;
    const holds = proc.listeners('uncaughtException').map(homingMark).filter(isCrashHold);
    // Another client's holder was called first and leads this crash, ours included.
    if (holds[0] !== crashHold) return;
    holding = true;
    const settled = (p: Promise<void>): Promise<void> => p.catch(hooks.onInternalError);
    void Promise.all(
      holds.map((h) => {
        try {
          return settled(h.hold());
        } catch (e) {
          hooks.onInternalError(e);
          return undefined;
        }
      }),
    ).finally(() => {
      for (const h of holds) {
        try {
          h.release(error);
        } catch (e) {
          hooks.onInternalError(e);
        }
      }
      proc.nextTick(() => {
        throw error;
      });
    });
  }, crashHold);

  const onRejection = mark((reason: unknown): void => {
    recordOnce(reason, 'unhandledRejection', false);
  }, true);
  let rejectionListening = false;
  const listenRejections = (on: boolean): void => {
    if (on === rejectionListening) return;
    rejectionListening = on;
    if (on) proc.on('unhandledRejection', onRejection);
    else proc.removeListener('unhandledRejection', onRejection);
  };
  const followAppRejectionListeners = (): void => {
    // Runs inside newListener (before the app's listener is added) and after removals.
    queueMicrotask(() => listenRejections(mode === 'none' || appListeners('unhandledRejection') > 0));
  };
  const onNewListener = (event: unknown, listener: unknown): void => {
    if (event === 'unhandledRejection' && homingMark(listener) === undefined) {
      // Listen now, synchronously: a rejection may be processed before a microtask runs.
      listenRejections(true);
      followAppRejectionListeners();
    }
  };
  const onRemoveListener = (event: unknown, listener: unknown): void => {
    if (event === 'unhandledRejection' && homingMark(listener) === undefined) followAppRejectionListeners();
  };

  proc.on('uncaughtExceptionMonitor', onMonitor);
  if (
    hooks.persistBeforeCrashMs > 0 &&
    !hasFlag(proc, '--abort-on-uncaught-exception') &&
    mode !== 'strict'
  ) {
    proc.on('uncaughtException', onUncaught);
    holdInstalled = true;
  }
  if (hooks.captureRejections) {
    proc.on('newListener', onNewListener);
    proc.on('removeListener', onRemoveListener);
    listenRejections(mode === 'none' || appListeners('unhandledRejection') > 0);
  }

  return () => {
    proc.removeListener('uncaughtExceptionMonitor', onMonitor);
    if (holdInstalled && !holding) proc.removeListener('uncaughtException', onUncaught);
    proc.removeListener('newListener', onNewListener);
    proc.removeListener('removeListener', onRemoveListener);
    listenRejections(false);
  };
}
