/**
 * Express route patterns. `req.route.path` is the pattern of the route inside its router, and
 * `req.baseUrl` is the *matched text* of the mount paths above it (`/orgs/acme` for
 * `app.use('/orgs/:org', router)`), so the mount's parameter values are put back as `:name`
 * from the params the router had when the route matched (those of the innermost mount).
 */
export function routePattern(baseUrl: unknown, params: unknown, routePath: unknown): string {
  const path = patternText(routePath);
  const base = typeof baseUrl === 'string' ? unparameterize(baseUrl, params) : '';
  if (base === '') return path;
  return path === '/' ? base : base + path;
}

function patternText(path: unknown): string {
  if (typeof path === 'string') return path;
  if (path instanceof RegExp) return String(path);
  if (Array.isArray(path)) return path.map(patternText).join('|');
  return '(unknown)';
}

/**
 * Each param takes one segment: its own. The params are those of the innermost mount, whose
 * matched text ends `baseUrl`, in the order of its pattern; so the last param takes the last
 * segment holding its value, the one before it the last such segment left of that, and so on.
 * A fixed segment of the mount (or an outer mount's) that happens to equal a value is left alone:
 * `/api/:tenant` matching `/api/api` is `/api/:tenant`, not `/:tenant/:tenant`.
 */
function unparameterize(baseUrl: string, params: unknown): string {
  if (baseUrl === '' || typeof params !== 'object' || params === null) return baseUrl;
  const names = Object.keys(params);
  let out = baseUrl;
  let before = out.length;
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i]!;
    const value = (params as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value === '') continue;
    let at = lastSegment(out, value, before);
    let length = value.length;
    // Express decodes params: the URL holds the encoded form (`a%20b` for `a b`).
    const encoded = encodeURIComponent(value);
    if (encoded !== value) {
      const encodedAt = lastSegment(out, encoded, before);
      if (encodedAt > at) {
        at = encodedAt;
        length = encoded.length;
      }
    }
    if (at < 0) continue;
    out = `${out.slice(0, at)}:${name}${out.slice(at + length)}`;
    before = at;
  }
  return out;
}

/** Where the last whole path segment equal to `value` ending before `end` starts, or -1 (no split: no array per call). */
function lastSegment(path: string, value: string, end: number): number {
  let from = end - value.length;
  while (from >= 0) {
    const at = path.lastIndexOf(value, from);
    if (at < 0) return -1;
    const after = at + value.length;
    if (path[at - 1] === '/' && (after === path.length || (after < end && path[after] === '/'))) return at;
    from = at - 1;
  }
  return -1;
}
