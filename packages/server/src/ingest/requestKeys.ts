import type { FastifyRequest } from 'fastify';
import { repeatedHeader } from '../repeatedHeader.js';
import { IngestError } from './errors.js';

const AUTHORIZATION = ['authorization'];

/**
 * The request's one Authorization header. Node keeps the first of two and drops the second
 * before agreedKey could compare them, so the events of a request with a proxy's key beside the
 * sender's landed in whichever project came first: two are refused (400), as on the admin API.
 */
function authorization(req: FastifyRequest): string | undefined {
  if (repeatedHeader(req.raw.rawHeaders, AUTHORIZATION) !== null) {
    throw new IngestError('malformed', 'Authorization given more than once; send one key');
  }
  return req.headers.authorization;
}

/** The key of `Authorization: Bearer <key>`, if the request has one. */
export function bearerKey(req: FastifyRequest): string | undefined {
  const h = authorization(req);
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** The user of `Authorization: Basic base64(<key>:)`, Segment's way of sending the write key. */
export function basicKey(req: FastifyRequest): string | undefined {
  const h = authorization(req);
  if (typeof h !== 'string') return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded;
  return user === '' ? undefined : user;
}

/** A string field of a JSON object, if the body is one and the field is a non-empty string. */
export function stringField(body: unknown, ...names: string[]): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  for (const n of names) {
    const v = (body as Record<string, unknown>)[n];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** Where a request named a key (for the refusal's message: never the key itself) and the key. */
export type KeySource = readonly [where: string, key: string | undefined];

/**
 * The one key a request carries, however many places name it. Two different keys are refused
 * rather than one picked: whichever won, events would land in a project their sender did not
 * mean (a proxy that adds its own header, a batch merged from two projects), and the other
 * project's key would be stored in their properties.
 */
export function agreedKey(sources: Iterable<KeySource>): string | undefined {
  let first: KeySource | undefined;
  for (const source of sources) {
    const key = source[1];
    if (key === undefined) continue;
    if (first === undefined) first = source;
    else if (key !== first[1]) {
      throw new IngestError('malformed', `${first[0]} and ${source[0]} carry different keys; send one`);
    }
  }
  return first?.[1];
}
