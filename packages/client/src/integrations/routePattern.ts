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
  const names = Object.keys(params);
  if (names.length === 0) return baseUrl;
  const byValue = new Map<string, string>();
  for (const name of names) {
    const value = (params as Record<string, unknown>)[name];
    if (typeof value === 'string' && value !== '') byValue.set(value, name);
  }
  return baseUrl
    .split('/')
    .map((segment) => {
      const name = byValue.get(segment) ?? byValue.get(safeDecode(segment));
      return name === undefined ? segment : `:${name}`;
    })
    .join('/');
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
