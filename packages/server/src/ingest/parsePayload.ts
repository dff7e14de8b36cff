import { IngestError } from './errors.js';

export interface PayloadFormat {
  /** The `Content-Type` header. */
  contentType: string | undefined;
  /** The `compression` query parameter. */
  compression: string | undefined;
}

/**
 * Turns a decoded body into a JSON value. Besides plain JSON (any content type: browsers send
 * `text/plain` to avoid a CORS preflight), it reads the form posthog-js sends with beacons,
 * `data=<base64 JSON>`, and a bare base64 body with `?compression=base64`.
 * Errors never quote the body: it may hold personal data and the reason is logged.
 */
export function parsePayload(body: Buffer, format: PayloadFormat): unknown {
  let text = body.toString('utf8');
  const type = (format.contentType ?? '').toLowerCase();
  const compression = (format.compression ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded') || text.startsWith('data=')) {
    const form = new URLSearchParams(text);
    const data = form.get('data');
    if (data === null) throw new IngestError('malformed', 'form body without a data field');
    const formCompression = (form.get('compression') ?? compression).toLowerCase();
    text = formCompression === 'base64' || !looksLikeJson(data) ? fromBase64(data) : data;
  } else if (compression === 'base64') {
    text = fromBase64(text);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    // Checked only here: trimming every body would copy it.
    if (text.trim() === '') throw new IngestError('malformed', 'empty body; send a JSON batch');
    throw new IngestError('malformed', `body is not valid JSON${where(err)}`);
  }
}

function looksLikeJson(s: string): boolean {
  const c = s.trimStart()[0];
  return c === '{' || c === '[';
}

function fromBase64(s: string): string {
  const t = s.trim();
  // Buffer's decoder skips foreign characters silently; check first so garbage is named.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) throw new IngestError('malformed', 'data is not valid base64');
  return Buffer.from(t, 'base64').toString('utf8');
}

/** The position V8 names, when it names one (for the reader only); the rest of its message quotes the input. */
function where(err: unknown): string {
  const m = /position (\d+)/.exec(err instanceof Error ? err.message : '');
  return m ? ` (at character ${m[1]})` : '';
}
