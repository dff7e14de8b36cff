import { utf8Length } from '../outbox/records.js';

/**
 * A JSON request body kept as its pieces: `head`, the `items` separated by commas, then `tail`
 * (a batch is `{"batch":[` + events + `],…}`). Joined, a body of a few hundred events is a
 * string of a few hundred KB, which V8 allocates in pages of its own, touched for the first time
 * (flattening it cost the Node client about 0.8 µs an event, measured); the pieces are written
 * where they go instead (`gzipNode.ts`, a Blob in browsers).
 */
export interface JsonParts {
  readonly head: string;
  readonly items: readonly string[];
  readonly tail: string;
}

export type RequestBody = string | JsonParts;

/** The body as one string, for the paths that need one (no gzip, a custom fetch). */
export function bodyText(body: RequestBody): string {
  return typeof body === 'string' ? body : `${body.head}${body.items.join(',')}${body.tail}`;
}

/** UTF-16 units of the body once joined. */
export function bodyLength(body: RequestBody): number {
  if (typeof body === 'string') return body.length;
  let length = body.head.length + body.tail.length + Math.max(0, body.items.length - 1);
  for (const item of body.items) length += item.length;
  return length;
}

/** Whether the body's UTF-8 encoding is longer than `bytes`, counting only when it must. */
export function bodyUtf8Over(body: RequestBody, bytes: number): boolean {
  const length = bodyLength(body);
  if (length > bytes) return true;
  if (length * 3 <= bytes) return false;
  return bodyUtf8Length(body) > bytes;
}

export function bodyUtf8Length(body: RequestBody): number {
  if (typeof body === 'string') return utf8Length(body);
  let bytes = utf8Length(body.head) + utf8Length(body.tail) + Math.max(0, body.items.length - 1);
  for (const item of body.items) bytes += utf8Length(item);
  return bytes;
}

/** The pieces in order with the separators between items, as a Blob or a stream takes them. */
export function bodyPieces(body: JsonParts): string[] {
  const pieces: string[] = [body.head];
  for (let i = 0; i < body.items.length; i++) {
    if (i > 0) pieces.push(',');
    pieces.push(body.items[i]!);
  }
  pieces.push(body.tail);
  return pieces;
}
