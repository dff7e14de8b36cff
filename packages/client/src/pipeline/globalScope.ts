/** `Object.prototype.toString` of the objects a script's global scope can be. */
const GLOBAL_SCOPE_TAGS: ReadonlySet<string> = new Set([
  '[object Window]',
  '[object global]',
  '[object WorkerGlobalScope]',
  '[object DedicatedWorkerGlobalScope]',
  '[object SharedWorkerGlobalScope]',
  '[object ServiceWorkerGlobalScope]',
]);

/**
 * The name of `obj` when it is a global scope (this realm's `globalThis`, or another window such
 * as an iframe's), else undefined. Its own properties are the whole environment: a page's
 * `window` read as data was every global of the page and the whole of its localStorage and
 * sessionStorage (72-390 KB an event, 30-110 ms of the main thread, and values redaction keeps,
 * such as a `session` key), which no app means to send.
 */
export function globalScopeName(obj: object): string | undefined {
  if (obj === globalThis) return 'globalThis';
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === Object.prototype || proto === null || proto === Array.prototype) return undefined;
  const tag = Object.prototype.toString.call(obj);
  return GLOBAL_SCOPE_TAGS.has(tag) ? tag.slice(8, -1) : undefined;
}
