/**
 * What kind of failure `error` is, for telling a new failure from the same one again: its name
 * and the first code along its causes (`ENOSPC`, `EROFS`, a DOMException's name such as
 * `QuotaExceededError`), else its message. Not the message when a code is there: a full disk's
 * message carries the bytes still free, which change from one try to the next.
 */
export function failureKind(error: unknown): string {
  let at: unknown = error;
  for (let depth = 0; depth < 8 && at !== null && typeof at === 'object'; depth++) {
    const { code, name, cause } = at as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === 'string') return `${kindName(error)}:${code}`;
    if (
      typeof name === 'string' &&
      name !== 'Error' &&
      at !== error &&
      typeof DOMException !== 'undefined' &&
      at instanceof DOMException
    )
      return `${kindName(error)}:${name}`;
    at = cause;
  }
  if (error instanceof Error) return `${error.name}:${error.message}`;
  try {
    return `value:${JSON.stringify(error) ?? String(error)}`;
  } catch {
    return `value:${String(error)}`;
  }
}

function kindName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
