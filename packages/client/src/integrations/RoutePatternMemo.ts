import { RouteName } from './httpTags.js';
import { routePattern } from './routePattern.js';

/** Mount texts (`req.baseUrl`) remembered per route; past this the route's memo starts over. */
export const MAX_MOUNT_TEXTS_PER_ROUTE = 256;

interface Entry {
  /** The route's `path` the names were made from: a route given a new path is not served stale. */
  readonly path: unknown;
  /** The name when the route's router is not mounted under a path (`baseUrl` empty). */
  unmounted: RouteName | undefined;
  /** Mount text (`/orgs/acme`) → name (`/orgs/:org/projects/:pid`). */
  readonly byMountText: Map<string, RouteName>;
}

/**
 * `routePattern` remembered per Express route object (long-lived: one per `router.get(...)`):
 * rebuilding the pattern of every request (splitting the mount text, putting the mount's params
 * back as `:name`, joining) was the largest part of timing a request in a loaded server
 * (profiled). The same route reached through the same mount text names the same pattern: the
 * mount's params are what its path matched in that text. Bounded per route, so a mount
 * parameter with endless values (`/orgs/:org`) costs at most `MAX_MOUNT_TEXTS_PER_ROUTE`
 * names before it starts over.
 */
export class RoutePatternMemo {
  readonly #entries = new WeakMap<object, Entry>();

  /**
   * The name of `route` reached through `baseUrl`. The mount's params are read from
   * `request.params` only when the name is not known yet: a read of a property of Express's
   * request costs more than the lookup (Express's requests do not share hidden classes).
   */
  name(route: { path?: unknown }, baseUrl: unknown, request: { readonly params?: unknown }): RouteName {
    // Not a route object (something assigned junk to `req.route`): named, not remembered.
    if ((typeof route !== 'object' && typeof route !== 'function') || route === null) {
      return new RouteName(routePattern(baseUrl, request.params, (route as { path?: unknown } | null)?.path));
    }
    const path = route.path;
    let entry = this.#entries.get(route);
    if (entry === undefined || entry.path !== path) {
      entry = { path, unmounted: undefined, byMountText: new Map() };
      this.#entries.set(route, entry);
    }
    if (baseUrl === '' || baseUrl === undefined) {
      return (entry.unmounted ??= new RouteName(routePattern('', undefined, path)));
    }
    if (typeof baseUrl !== 'string') return new RouteName(routePattern(baseUrl, request.params, path));
    let name = entry.byMountText.get(baseUrl);
    if (name === undefined) {
      if (entry.byMountText.size >= MAX_MOUNT_TEXTS_PER_ROUTE) entry.byMountText.clear();
      name = new RouteName(routePattern(baseUrl, request.params, path));
      entry.byMountText.set(baseUrl, name);
    }
    return name;
  }
}
