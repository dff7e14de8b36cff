import { parse } from 'node:querystring';

/** Set on a parsed query string that held a `%` sequence which does not decode. */
const MALFORMED = Symbol('homing.malformedQuery');

/**
 * The router's query string parser. Fastify's own keeps a value it cannot decode as the raw
 * text, so `?distinct_id=%FF` asked for a person whose id is the three characters `%FF` and
 * answered 200 with no events, as if the person had none. This one marks such a query, and
 * the server answers it with 400, as the router does for such a path.
 */
export function parseQueryString(query: string): Record<string, unknown> {
  if (query.length === 0) return {};
  let malformed = false;
  const decode = (text: string): string => {
    // Node's parser calls this for every key and value; most have nothing to decode.
    if (!text.includes('%')) return text;
    try {
      return decodeURIComponent(text);
    } catch {
      malformed = true;
      return text;
    }
  };
  const parsed = parse(query, '&', '=', { decodeURIComponent: decode, maxKeys: 1000 });
  if (malformed) (parsed as Record<symbol, unknown>)[MALFORMED] = true;
  return parsed;
}

/** Whether `parseQueryString` marked this parsed query string. */
export function isMalformedQuery(query: unknown): boolean {
  return (query as Record<symbol, unknown> | undefined)?.[MALFORMED] === true;
}
