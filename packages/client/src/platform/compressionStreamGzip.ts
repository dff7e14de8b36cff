import { type RequestBody, bodyPieces } from './jsonParts.js';

/**
 * gzip with the web's `CompressionStream` (browsers, workers, edge runtimes). A Blob takes a
 * batch's pieces as they are, so the body is never joined into one string here either.
 */
export async function compressionStreamGzip(
  Compression: typeof CompressionStream | undefined,
  body: RequestBody,
): Promise<Uint8Array> {
  if (Compression === undefined) throw new TypeError('CompressionStream is not available');
  const stream = new Blob(typeof body === 'string' ? [body] : bodyPieces(body))
    .stream()
    .pipeThrough(new Compression('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
