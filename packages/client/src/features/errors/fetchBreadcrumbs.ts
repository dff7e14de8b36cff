import { isOwnRequest } from '../../platform/ownRequest.js';
import type { FetchLike } from './runtimeGlobals.js';
import { subscribePatch } from './sharedPatch.js';
import type { BreadcrumbInput } from './types.js';

/**
 * Wraps `owner.fetch` to record each request as a breadcrumb: method, URL without query
 * string, fragment or credentials (those carry tokens and personal data), status and
 * duration. The request and its result or rejection are passed through untouched. Homing's own
 * delivery requests are left out (`ownRequest.ts`).
 */
export function instrumentFetch(
  owner: { fetch?: FetchLike },
  add: (crumb: BreadcrumbInput) => void,
  now: () => number,
): () => void {
  // One wrapper for every tracker of the process (`subscribePatch`): stacked, they piled up.
  return subscribePatch<FetchListener>(
    owner,
    'fetch',
    FETCH_PATCH,
    { add, now },
    (original, listeners) =>
      function (this: unknown, input: unknown, init?: unknown) {
        if (listeners.size === 0 || isOwnRequest(init)) return original.call(this, input, init);
        const watching = [...listeners].map((l) => ({ l, started: l.now() }));
        const { method, url } = describeRequest(input, init);
        const record = (status: number | null, error?: string): void => {
          const level = status === null || status >= 500 ? 'error' : status >= 400 ? 'warning' : 'info';
          for (const { l, started } of watching) {
            try {
              const data: Record<string, unknown> = {
                method,
                url,
                status,
                durationMs: Math.max(0, l.now() - started),
              };
              if (error !== undefined) data['error'] = error;
              l.add({ category: 'fetch', level, message: `${method} ${url} ${status ?? 'failed'}`, data });
            } catch {}
          }
        };
        const pending = original.call(this, input, init);
        if (typeof (pending as { then?: unknown } | null)?.then !== 'function') return pending;
        return (pending as Promise<unknown>).then(
          (response: unknown) => {
            const status = (response as { status?: unknown } | null)?.status;
            record(typeof status === 'number' ? status : null);
            return response;
          },
          (error: unknown) => {
            record(null, errorName(error));
            throw error;
          },
        );
      },
  );
}

interface FetchListener {
  readonly add: (crumb: BreadcrumbInput) => void;
  readonly now: () => number;
}

const FETCH_PATCH = Symbol('homing.fetch');

function describeRequest(input: unknown, init: unknown): { method: string; url: string } {
  let method = 'GET';
  let url = '';
  try {
    const initMethod = (init as { method?: unknown } | undefined)?.method;
    if (typeof input === 'string') url = input;
    else if (input instanceof URL) url = input.href;
    else if (typeof input === 'object' && input !== null) {
      const u = (input as { url?: unknown }).url;
      if (typeof u === 'string') url = u;
      const m = (input as { method?: unknown }).method;
      if (typeof m === 'string') method = m;
    }
    if (typeof initMethod === 'string') method = initMethod;
  } catch {}
  return { method: method.toUpperCase(), url: stripUrl(url) };
}

/** Origin and path only: no `user:pass@`, `?query` or `#fragment`. */
export function stripUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    // Relative URLs (browser fetch('/api/x?token=1')): cut at the first ? or #.
    const cut = url.search(/[?#]/);
    return (cut >= 0 ? url.slice(0, cut) : url).slice(0, 2048);
  }
}

function errorName(error: unknown): string {
  try {
    if (error instanceof Error) return error.name;
  } catch {}
  return typeof error;
}
