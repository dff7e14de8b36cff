import { type HeadersLike, classifyHttpFailure } from '@homing/resilience';
import { OWN_REQUEST } from '../../platform/ownRequest.js';
import type { Platform } from '../../platform/platform.js';
import type { SendContext, SendOutcome } from './destination.js';
import { type RequestBody, bodyText, bodyUtf8Over } from '../../platform/jsonParts.js';

export interface HttpRequest {
  readonly url: string;
  /** A string, or a batch as its pieces (sent joined, never joined in memory where gzip runs). */
  readonly body: RequestBody;
  readonly headers: Record<string, string>;
  /**
   * What of the request is a credential (the key, and the header value made of it): an answer
   * that quotes it back (a proxy's or gateway's error page, `invalid token Bearer hw_…`) has it
   * replaced by `[key]` before it goes into the reason, which `stats().lastError`, the logs and
   * the dead letters keep.
   */
  readonly secrets?: readonly string[];
}

/** Reads the answer of a 2xx (small JSON bodies only); returns what the destination rejected. */
export type ReadAccepted = (text: string) => SendOutcome & { kind: 'accepted' };

const NOTHING_REJECTED: SendOutcome = { kind: 'accepted', rejected: [] };
/** What of an error answer goes into the reason (dead letters, logs). */
const MAX_REASON_BODY = 200;

/**
 * POSTs one JSON body: gzip above the threshold; a 2xx is accepted, any other answer is
 * classified with `classifyHttpFailure`. Never throws: every failure becomes an outcome.
 *
 * An error thrown by fetch itself (refused, reset, DNS, TLS, timeout) is retryable whatever it
 * is: it never means the server refused the events, and dead-lettering on a client-side
 * condition would throw away events a later attempt delivers.
 */
export async function httpSend(
  request: HttpRequest,
  context: SendContext,
  readAccepted?: ReadAccepted,
): Promise<SendOutcome> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...request.headers };
  let body: string | Uint8Array;
  if (
    context.gzipMinBytes !== null &&
    context.platform.canGzip &&
    bodyUtf8Over(request.body, context.gzipMinBytes)
  ) {
    body = await context.platform.gzip(request.body);
    headers['content-encoding'] = 'gzip';
  } else {
    body = bodyText(request.body);
  }
  let answer: { status: number; headers: HeadersLike; text: string };
  try {
    answer = await post(context.platform, request.url, headers, body, context.signal);
  } catch (error) {
    const reason = context.signal.aborted
      ? `request aborted (${describe(context.signal.reason)})`
      : `network error: ${describe(error)}`;
    return { kind: 'failed', failure: 'retryable', reason, error };
  }
  const { status, text } = answer;
  // Only a 2xx took the events. `classifyHttpFailure` also calls 304 a success (for a GET it is:
  // the cached copy is good); to a POST it means nothing was stored, and acking it lost them.
  if (status >= 200 && status < 300)
    return readAccepted === undefined ? NOTHING_REJECTED : readAccepted(text);
  const classification = classifyHttpFailure({ status, headers: answer.headers });
  const detail = withoutSecrets(text, request.secrets).trim().slice(0, MAX_REASON_BODY);
  // A status without a name of its own (307) is already "HTTP 307".
  const said = classification.reason.startsWith('HTTP ')
    ? classification.reason
    : `HTTP ${classification.reason}`;
  const reason = `${said}${detail === '' ? '' : `: ${detail}`}`;
  // 409 is retried (the issue's rule: 4xx other than 408/409/425/429 are permanent), for every
  // destination: the Homing server answers a resend 202 with the events counted as duplicates,
  // so a 409 came from something else at that address (a proxy, a gateway) and proves nothing
  // stored. A 304 goes the way of the other 3xx: permanent (dead letters, where it can be
  // replayed; see `nodeHttpPost`).
  const failure =
    status === 413
      ? 'too-large'
      : classification.kind === 'conflict'
        ? 'retryable'
        : classification.kind === 'success'
          ? 'permanent'
          : classification.kind;
  const outcome: SendOutcome = { kind: 'failed', failure, reason, status };
  return classification.retryAfterMs === undefined
    ? outcome
    : { ...outcome, retryAfterMs: classification.retryAfterMs };
}

/** `text` with each of `secrets` (longest first: one may hold another) replaced by `[key]`. */
function withoutSecrets(text: string, secrets: readonly string[] | undefined): string {
  if (secrets === undefined) return text;
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join('[key]');
  }
  return out;
}

/** The platform's own POST where it has one (Node: `node:http`), else fetch. */
async function post(
  platform: Platform,
  url: string,
  headers: Record<string, string>,
  body: string | Uint8Array,
  signal: AbortSignal,
): Promise<{ status: number; headers: HeadersLike; text: string }> {
  if (platform.post !== undefined) return platform.post(url, { headers, body, signal });
  const init = { method: 'POST', headers, body: body as BodyInit, signal, [OWN_REQUEST]: true };
  const response = await platform.fetch(url, init);
  let text = '';
  try {
    // Always read the body: an unread body keeps the connection from being reused.
    text = await response.text();
  } catch {
    // The answer's status is what counts; a body cut off on the way changes nothing.
  }
  return { status: response.status, headers: response.headers, text };
}

function describe(value: unknown): string {
  if (value instanceof Error) {
    const code = (value.cause as { code?: unknown } | undefined)?.code ?? (value as { code?: unknown }).code;
    return typeof code === 'string' ? `${value.message} (${code})` : value.message;
  }
  return String(value);
}
