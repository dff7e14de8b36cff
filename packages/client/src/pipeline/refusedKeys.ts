/**
 * The keys of the one object the plain-data check (`plainJsonData.ts`) last refused for having
 * more than `maxProperties` of them, handed over to the clone (`safeClone`) that `track()` makes
 * of the same properties right after: `Object.keys` of an object with a million keys costs
 * ~0.4 s, and both walks read them. No other walk gets them: the clone takes them only for the
 * same object, once, and drops them when it ends, as the check does when it starts, and they are
 * dropped at the end of the turn whatever happens, so they never outlive the `track()` call that
 * read them (nor keep a large array alive).
 *
 * The clone may run app code (getters, `toJSON`) before it reaches that object; one that adds or
 * removes its keys meanwhile changes only which of them the clone, cut at `maxProperties`
 * anyway, copies.
 */
let refusedObject: object | undefined;
let refusedKeys: string[] | undefined;

/** Called by the check with the keys it read of `obj` and found too many. */
export function rememberRefusedKeys(obj: object, keys: string[]): void {
  refusedObject = obj;
  refusedKeys = keys;
  queueMicrotask(forgetRefusedKeys);
}

/** `Object.keys(obj)`, or the keys the check read of it, once. */
export function ownKeysOf(obj: object): string[] {
  if (obj === refusedObject && refusedKeys !== undefined) {
    const keys = refusedKeys;
    forgetRefusedKeys();
    return keys;
  }
  return Object.keys(obj);
}

export function forgetRefusedKeys(): void {
  refusedObject = undefined;
  refusedKeys = undefined;
}
