/**
 * Reads a property without letting a throwing getter or a Proxy trap throw out of code that
 * promises an answer about any value (a classification, whether to retry).
 */
export function readProperty(target: unknown, key: string): unknown {
  if (target === null || (typeof target !== 'object' && typeof target !== 'function')) return undefined;
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}
