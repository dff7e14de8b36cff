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

function unparameterize(baseUrl: string, params: unknown): string {
  if (baseUrl === '' || typeof params !== 'object' || params === null) return baseUrl;
  let out = baseUrl;
  for (const name of Object.keys(params)) {
    const value = (params as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value === '') continue;
    out = replaceSegment(out, value, name);
    // Express decodes params: the URL holds the encoded form (`a%20b` for `a b`).
    const encoded = encodeURIComponent(value);
    if (encoded !== value) out = replaceSegment(out, encoded, name);
  }
  return out;
}

/** Every whole path segment equal to `value` becomes `:name` (no split: this runs per request). */
function replaceSegment(path: string, value: string, name: string): string {
  let from = 0;
  let out = path;
  for (;;) {
    const at = out.indexOf(value, from);
    if (at < 0) return out;
    const end = at + value.length;
    if (out[at - 1] === '/' && (end === out.length || out[end] === '/')) {
      out = `${out.slice(0, at)}:${name}${out.slice(end)}`;
      from = at + name.length + 1;
    } else {
      from = at + 1;
    }
  }
}
