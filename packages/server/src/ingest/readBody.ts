import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { IngestError } from './errors.js';

export interface ReadBodyOptions {
  /** The `Content-Encoding` header. */
  contentEncoding: string | undefined;
  /** The `compression` query parameter (posthog-js sends `gzip-js`). */
  compression: string | undefined;
  /** The `Content-Length` header, when the client sent one. */
  contentLength: string | undefined;
  /** Largest body after decompression, bytes. */
  maxBytes: number;
  /**
   * Shared by every body being read: each decompressed byte is taken from it as it comes, and
   * a body it has no room for is refused (`busy`). The caller gives back `held()` once done with
   * the body; on a refusal or failure here it is given back already.
   */
  budget?: { take(n: number): boolean; give(n: number): void };
  /** Seconds a `busy` refusal asks the client to wait. */
  retryAfterSeconds?: number;
}

type Coding = 'gzip' | 'deflate' | 'br';

/** Codings one body may stack (`Content-Encoding: gzip, gzip`): each is a decompressor held open. */
const MAX_CODINGS = 3;

/**
 * Reads a request body, decompressing while it streams and counting what comes out, so a
 * small gzip bomb is refused (413) as soon as its output passes `maxBytes` instead of after
 * filling memory. Gzip is also recognised by its magic bytes when nothing announced it, as
 * PostHog's capture does. The compressed input is capped at `maxBytes` too, and so is what
 * each coding of a stacked `Content-Encoding` passes to the next (undone last one first).
 */
export function readBody(stream: Readable, o: ReadBodyOptions): Promise<Buffer> {
  const announced = codingsToUndo(o.contentEncoding, o.compression);
  const declared = o.contentLength === undefined ? NaN : Number(o.contentLength);
  if (declared > o.maxBytes) return Promise.reject(tooLarge(o.maxBytes));

  return new Promise<Buffer>((resolve, reject) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    let inBytes = 0;
    let decided = announced !== undefined;
    // The first one is written the body; the last one's output is the body decoded.
    let decoders: Transform[] = [];
    let settled = false;

    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      o.budget?.give(outBytes);
      for (const d of decoders) d.destroy();
      // The rest of the body is left unread; the error handler closes the connection.
      reject(err);
    };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(out.length === 1 ? out[0]! : Buffer.concat(out, outBytes));
    };
    const push = (buf: Buffer): void => {
      if (settled) return;
      if (outBytes + buf.length > o.maxBytes) return fail(tooLarge(o.maxBytes));
      if (o.budget !== undefined && !o.budget.take(buf.length)) return fail(busy(o.retryAfterSeconds));
      outBytes += buf.length;
      out.push(buf);
    };
    const startDecoders = (kinds: readonly Coding[]): void => {
      decoders = kinds.map((kind) => {
        const d =
          kind === 'gzip' ? createGunzip() : kind === 'deflate' ? createInflate() : createBrotliDecompress();
        d.on('error', () =>
          fail(new IngestError('malformed', `body is not valid ${kind} data (check Content-Encoding)`)),
        );
        return d;
      });
      decoders.forEach((d, i) => {
        const upstream = i === 0 ? stream : decoders[i - 1]!;
        d.on('drain', () => upstream.resume());
        const next = decoders[i + 1];
        if (next === undefined) {
          d.on('data', push);
          d.on('end', finish);
          return;
        }
        // A coding's output is the next one's input: capped as the body's is, or gzip over a
        // gzip stream of empty blocks would pass gigabytes between them to make a few bytes.
        let passed = 0;
        d.on('data', (chunk: Buffer) => {
          if (settled) return;
          passed += chunk.length;
          if (passed > o.maxBytes) return fail(tooLarge(o.maxBytes));
          if (!next.write(chunk)) d.pause();
        });
        d.on('end', () => next.end());
      });
    };
    if (announced !== undefined) startDecoders(announced);

    function onData(chunk: Buffer): void {
      inBytes += chunk.length;
      if (inBytes > o.maxBytes) return fail(tooLarge(o.maxBytes));
      if (!decided) {
        decided = true;
        // 1f 8b: a gzip stream sent without saying so.
        if (chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) startDecoders(['gzip']);
      }
      const first = decoders[0];
      if (first === undefined) push(chunk);
      else if (!first.write(chunk)) stream.pause();
    }
    function onEnd(): void {
      const first = decoders[0];
      if (first === undefined) finish();
      else first.end();
    }
    // The request stream fails only when its connection does: nothing wrong with the bytes.
    function onError(): void {
      fail(new IngestError('aborted', 'the connection ended before the request body arrived'));
    }
    function onAborted(): void {
      fail(new IngestError('aborted', 'the connection ended before the request body arrived'));
    }
    // Destroyed before it was read (the connection closed while earlier hooks ran): its 'error'
    // and 'aborted' are past, and no 'end' will come.
    if (stream.destroyed && !stream.readableEnded) return onAborted();
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
  });
}

/**
 * The codings to undo, in that order: a `Content-Encoding` list names them in the order they
 * were applied (RFC 9110), `identity` and empty entries do nothing. undefined: nothing announced
 * (sniff the magic bytes); empty: identity.
 */
function codingsToUndo(
  contentEncoding: string | undefined,
  compression: string | undefined,
): Coding[] | undefined {
  let header: Coding[] | undefined;
  const list = (contentEncoding ?? '').trim().toLowerCase();
  if (list !== '') {
    header = [];
    for (const entry of list.split(',')) {
      const enc = entry.trim();
      if (enc === '' || enc === 'identity') continue;
      if (enc === 'gzip' || enc === 'x-gzip') header.unshift('gzip');
      else if (enc === 'deflate') header.unshift('deflate');
      else if (enc === 'br') header.unshift('br');
      else {
        throw new IngestError(
          'unsupported-encoding',
          'unsupported Content-Encoding; send gzip, deflate, br or identity',
        );
      }
    }
    // Brotli's window is up to 16 MB, allocated for however small a body: after it, another
    // coding can turn its output into nothing, so the in-flight budget (which counts the body's
    // decoded bytes) would never see what a stalled upload holds. On its own, its output is counted.
    if (header.length > 1 && header.includes('br')) {
      throw new IngestError(
        'unsupported-encoding',
        'Content-Encoding br is decoded only on its own, not in a list with other codings',
      );
    }
    if (header.length > MAX_CODINGS) {
      throw new IngestError(
        'unsupported-encoding',
        `Content-Encoding names ${header.length} codings; at most ${MAX_CODINGS} are decoded`,
      );
    }
  }
  const c = (compression ?? '').trim().toLowerCase();
  if (c === 'gzip-js' || c === 'gzip') return header ?? ['gzip'];
  // base64 is undone after reading (parsePayload); lz64 (old posthog-js) is not supported.
  if (c === '' || c === 'base64') return header;
  throw new IngestError(
    'unsupported-encoding',
    'unsupported compression; send gzip-js, gzip, base64 or none',
  );
}

function busy(retryAfterSeconds: number | undefined): IngestError {
  return new IngestError(
    'busy',
    'the server is reading as many request bodies as it takes at once; send this again shortly',
    retryAfterSeconds ?? 1,
  );
}

function tooLarge(max: number): IngestError {
  return new IngestError('too-large', `request body over ${max} bytes (after decompression)`);
}
