import * as workerThreads from 'node:worker_threads';

/**
 * Whether a thread of this process is certainly gone: for a lock that a `worker_threads` thread
 * left behind (DirectoryLock). A Worker ended with `terminate()` runs no exit hook, and its lock
 * carries our own pid, which is always alive.
 *
 * Asked with `postMessageToThread`: Node's main thread keeps the process's registry of threads
 * for it, drops a thread once its Worker exited (`terminate()` too, whatever the thread ran), and
 * answers a message to a thread it does not know with ERR_WORKER_MESSAGING_FAILED at once, without
 * any event loop of the thread's. A live thread that listens for `workerMessage`
 * (`answerThreadProbes`, called before a lock naming the thread is written) is never answered so:
 * it answers when its event loop runs, and one blocked longer than `timeoutMs` (or a main thread
 * blocked, which routes the message) is not known to be gone. Nor is a worker that ended because
 * the worker that started it ended: that parent never tells the main thread, whose messages to it
 * then go unanswered. Thread ids are never reused within a process.
 *
 * Where `postMessageToThread` is missing (added in Node 22.5 and backported to 20.x; not in older
 * 20.x releases, nor in other runtimes) nothing is known to be gone, and nothing written claims an
 * answer (`answerThreadProbes` answers false).
 */
type PostMessageToThread = (threadId: number, value: unknown, timeout?: number) => Promise<void>;
const postMessageToThread = (workerThreads as { postMessageToThread?: PostMessageToThread })
  .postMessageToThread;

/** What a probe carries: whoever else listens for `workerMessage` in the thread sees it too. */
const PROBE = { homing: 'directory-lock-thread-probe' } as const;

/**
 * Makes this thread answer probes (once per thread, also across copies of this module): a
 * `workerMessage` listener that does nothing, which is all `postMessageToThread` needs to
 * deliver. Answers whether probes work here, i.e. whether a lock may say its thread answers.
 */
export function answerThreadProbes(): boolean {
  if (typeof postMessageToThread !== 'function') return false;
  const key = Symbol.for('homing.directoryLock.answersThreadProbes');
  const flags = globalThis as Record<symbol, unknown>;
  if (flags[key] !== true) {
    process.on('workerMessage', () => {});
    flags[key] = true;
  }
  return true;
}

/**
 * Whether thread `thread` of this process is certainly gone (see above). Not this thread. With
 * `keepAlive`, the process stays alive until the answer (a command waiting for it); else the
 * wait does not hold it (Atomics.waitAsync, which the probe waits with, never does).
 */
export async function threadGone(
  thread: number,
  options: { timeoutMs: number; keepAlive: boolean },
): Promise<boolean> {
  if (typeof postMessageToThread !== 'function' || !Number.isSafeInteger(thread) || thread < 0) return false;
  if (thread === workerThreads.threadId) return false;
  const keep = options.keepAlive ? setInterval(() => {}, 60_000) : undefined;
  try {
    // Asked twice, a moment apart: a Worker started by another worker is registered by a
    // message from its parent to the main thread, which a main thread busy meanwhile may read
    // after a probe that came later on another port; it was waiting there before the first
    // probe was sent, and a second one, sent a moment after the first was answered, comes
    // after it.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) await pause(CONFIRM_PAUSE_MS);
      try {
        await postMessageToThread(thread, PROBE, options.timeoutMs);
        return false; // delivered: alive
      } catch (error) {
        // ERR_WORKER_MESSAGING_TIMEOUT: alive but busy (or its end not yet registered);
        // ERR_WORKER_MESSAGING_ERRORED: alive, another listener there threw.
        if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_MESSAGING_FAILED') return false;
      }
    }
    return true;
  } finally {
    if (keep !== undefined) clearInterval(keep);
  }
}

/** Between the two probes of a thread that looks gone (see `threadGone`). */
const CONFIRM_PAUSE_MS = 20;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
