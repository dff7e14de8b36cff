type AnyFunction = (this: unknown, ...args: any[]) => unknown;

/** One function of the runtime replaced by a wrapper of ours, and who listens through it. */
interface Patch {
  readonly kind: symbol;
  readonly original: AnyFunction;
  readonly listeners: Set<unknown>;
}

/** Our wrappers, by wrapper: so the next tracker finds the one in place instead of adding another. */
const patches = new WeakMap<AnyFunction, Patch>();

/**
 * Listens to calls of `owner[key]` (`console.log`, `fetch`, `history.pushState`) through one
 * wrapper of `kind` shared by every tracker of the process: `wrap` makes it, given the original
 * and the live set of listeners, once; a tracker that finds one on top joins it. Answers the
 * unsubscribe function: the last listener to leave puts the original back, and so do our emptied
 * wrappers under it. Each tracker with a wrapper of its own stacked them: shut down in the order
 * they were made, each found another's wrapper on top and left its own in place, so every
 * create/shutdown cycle left one more layer (and its cost) on every console call for good.
 * A wrapper someone else put on top of ours stays: ours passes through beneath it, empty.
 */
export function subscribePatch<L>(
  owner: object,
  key: string,
  kind: symbol,
  listener: L,
  wrap: (original: AnyFunction, listeners: ReadonlySet<L>) => AnyFunction,
): () => void {
  const slot = owner as Record<string, unknown>;
  const current = slot[key];
  if (typeof current !== 'function') return () => {};
  let patch = patches.get(current as AnyFunction);
  if (patch === undefined || patch.kind !== kind) {
    const listeners = new Set<L>();
    const wrapper = wrap(current as AnyFunction, listeners);
    patch = { kind, original: current as AnyFunction, listeners };
    try {
      slot[key] = wrapper;
    } catch {
      return () => {}; // frozen, or a setter that refuses: nothing to listen through
    }
    if (slot[key] !== wrapper) return () => {};
    patches.set(wrapper, patch);
  }
  const joined = patch;
  joined.listeners.add(listener);
  let left = false;
  return () => {
    if (left) return;
    left = true;
    joined.listeners.delete(listener);
    unwind(slot, key);
  };
}

/** Takes our emptied wrappers off the top of `slot[key]`, down to the first still used or not ours. */
function unwind(slot: Record<string, unknown>, key: string): void {
  for (;;) {
    const top = slot[key];
    const patch = typeof top === 'function' ? patches.get(top as AnyFunction) : undefined;
    if (patch === undefined || patch.listeners.size > 0) return;
    try {
      slot[key] = patch.original;
    } catch {
      return;
    }
    // A setter that ignores us would have this loop for ever; the wrapper stays ours to join.
    if (slot[key] === top) return;
    patches.delete(top as AnyFunction);
  }
}
