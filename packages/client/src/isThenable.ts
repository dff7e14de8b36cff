/**
 * Whether `value` is a thenable (a Promise, or what a library answers in its place). Reading
 * `then` may throw (a Proxy, a getter): such a value is no thenable.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}
