/**
 * The first of `names` (lower case) that a request's header lines carry more than once, or null.
 *
 * Node keeps only the first `Authorization` of a request and joins repeated custom headers with
 * ", ", so the parsed headers cannot tell `X-Homing-Actor: a` + `X-Homing-Actor: b` from `a, b`,
 * nor see a second key at all: the raw header lines can. A request that carries two keys (a proxy
 * that adds its own) is refused by its caller rather than served with whichever came first.
 */
export function repeatedHeader(rawHeaders: readonly string[], names: readonly string[]): string | null {
  const seen = new Set<string>();
  // rawHeaders alternates name, value.
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!names.includes(name)) continue;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return null;
}
