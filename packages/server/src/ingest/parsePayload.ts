import { isUtf8 } from 'node:buffer';
import { IngestError } from './errors.js';
import { parsesExactly, quoteNumbers } from './inexactNumbers.js';
import { nestedDeeperThan } from './jsonDepth.js';

export interface PayloadFormat {
  /** The `Content-Type` header. */
  contentType: string | undefined;
  /** The `compression` query parameter. */
  compression: string | undefined;
  /** Deepest nesting of arrays and objects the JSON may have (the body itself is level 1). */
  maxDepth: number;
}

/** Long numbers (see `inexactNumbers.ts`) one body may hold: 1 000 per event in a batch of 100. */
export const MAX_LONG_NUMBERS = 100_000;

/**
 * Turns a decoded body into a JSON value. Besides plain JSON (any content type: browsers send
 * `text/plain` to avoid a CORS preflight, and `curl -d '[...]'` sends
 * `application/x-www-form-urlencoded`), it reads the form posthog-js sends with beacons,
 * `data=<base64 JSON>`, and a bare base64 body with `?compression=base64`.
 * Errors never quote the body: it may hold personal data and the reason is logged.
 */
export function parsePayload(body: Buffer, format: PayloadFormat): unknown {
  const type = (format.contentType ?? '').toLowerCase();
  let text = decode(body, type);
  const compression = (format.compression ?? '').toLowerCase();
  const form =
    text.startsWith('data=') ||
    (type.startsWith('application/x-www-form-urlencoded') && !looksLikeJson(text));
  if (form) {
    const fields = new URLSearchParams(text);
    const data = fields.get('data');
    if (data === null) {
      // curl -d '' sends an empty form: say what is wrong with it, not what a form lacks.
      if (text.trim() === '') throw new IngestError('malformed', 'empty body; send a JSON batch');
      throw new IngestError(
        'malformed',
        'form body without a data field (and not JSON: it starts with neither { nor [)',
      );
    }
    const formCompression = (fields.get('compression') ?? compression).toLowerCase();
    text = formCompression === 'base64' || !looksLikeJson(data) ? fromBase64(data) : data;
  } else if (compression === 'base64') {
    text = fromBase64(text);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Before JSON.parse, which would hold the event loop for seconds on millions of levels.
  const inexact: number[] = [];
  let looked = 0;
  const tooDeep = nestedDeeperThan(text, format.maxDepth, (start, end) => {
    // Each costs a look (about 1.5 µs, twice JSON.parse's): a body of nothing else, 10 MB of
    // 19-digit numbers, held the event loop for 1.4 s where JSON.parse alone took 0.15 s.
    if (++looked > MAX_LONG_NUMBERS) {
      throw new IngestError(
        'malformed',
        `more than ${MAX_LONG_NUMBERS} numbers of 16 characters or more (or with an exponent) in one body: send such values as strings, or fewer events per request`,
      );
    }
    if (!parsesExactly(text.slice(start, end))) inexact.push(start, end);
  });
  if (tooDeep) throw new IngestError('malformed', `JSON nested deeper than ${format.maxDepth} levels`);
  if (inexact.length > 0) text = quoteNumbers(text, inexact);
  try {
    return JSON.parse(text);
  } catch (err) {
    // Checked only here: trimming every body would copy it.
    if (text.trim() === '') throw new IngestError('malformed', 'empty body; send a JSON batch');
    throw new IngestError('malformed', `body is not valid JSON${where(err, inexact)}`);
  }
}

/**
 * The body as text in the charset its Content-Type names: UTF-8 when it names none (JSON's own
 * encoding), any other the WHATWG Encoding Standard knows (`iso-8859-1`, `utf-16`, …) decoded
 * as such instead of as UTF-8 with U+FFFD in place of every foreign byte; an unknown one is 415.
 */
function decode(body: Buffer, type: string): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/.exec(type)?.[1];
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8') return utf8Text(body, 'body');
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    throw new IngestError('unsupported-encoding', `unsupported charset "${charset}"; send UTF-8`);
  }
  return decoder.decode(body);
}

/** Whether the first character after white space (and a byte order mark) is `{` or `[`. */
function looksLikeJson(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) return true; // { [
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0xfeff) return false;
  }
  return false;
}

function fromBase64(s: string): string {
  const t = s.trim();
  // Buffer's decoder skips foreign characters silently; check first so garbage is named.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) throw new IngestError('malformed', 'data is not valid base64');
  return utf8Text(Buffer.from(t, 'base64'), 'data');
}

/**
 * Refuses bytes that are not UTF-8 instead of reading each as U+FFFD: a Latin-1 body without a
 * charset had two events differing in one accented letter, or two persons, made one (the second
 * answered a duplicate, and lost).
 */
function utf8Text(bytes: Buffer, what: 'body' | 'data'): string {
  if (!isUtf8(bytes)) {
    throw new IngestError(
      'malformed',
      `${what} is not valid UTF-8; send UTF-8, or name the encoding in Content-Type (charset=iso-8859-1)`,
    );
  }
  return bytes.toString('utf8');
}

/** The position V8 names, when it names one (for the reader only); the rest of its message quotes the input. */
function where(err: unknown, quoted: readonly number[]): string {
  const m = /position (\d+)/.exec(err instanceof Error ? err.message : '');
  return m ? ` (at character ${positionAsSent(Number(m[1]), quoted)})` : '';
}

/** A position in the text with `quoted` numbers in quotes, as one in the body as it was sent. */
function positionAsSent(position: number, quoted: readonly number[]): number {
  let shift = 0;
  for (let k = 0; k < quoted.length; k += 2) {
    const start = quoted[k]! + shift;
    if (position < start) break;
    if (position < quoted[k + 1]! + shift + 2) return quoted[k]!;
    shift += 2;
  }
  return position - shift;
}
