/**
 * Why an ingest request was refused as a whole. Each kind has one HTTP status; the error
 * handler answers it with the message, which never quotes the request's content.
 */
export type IngestErrorKind =
  /** The body is not JSON, not the envelope the route expects, or empty. */
  | 'malformed'
  /** No write key in the request. */
  | 'missing-key'
  /** A key that belongs to no project. */
  | 'unknown-key'
  /** An admin key used for ingest: ingest takes the write key only. */
  | 'wrong-key-role'
  /** The body (after decompression), the number of events in it, or one event is over its limit. */
  | 'too-large'
  /** A Content-Encoding or `compression` the server does not decode. */
  | 'unsupported-encoding'
  /** The project's token bucket is empty. */
  | 'rate-limited'
  /** The server is shutting down. */
  | 'shutting-down'
  /** The bodies being read at once hold the server's budget for them (`maxBodyBytesInFlight`). */
  | 'busy'
  /**
   * The body stopped arriving (the client went away, or Node closed the connection: 408), or the
   * client went away before its events were committed.
   */
  | 'aborted';

const STATUS: Record<IngestErrorKind, number> = {
  malformed: 400,
  'missing-key': 401,
  'unknown-key': 401,
  'wrong-key-role': 403,
  'too-large': 413,
  'unsupported-encoding': 415,
  'rate-limited': 429,
  'shutting-down': 503,
  busy: 503,
  // Seldom read by anyone: the connection is gone by the time it is answered.
  aborted: 400,
};

export class IngestError extends Error {
  override readonly name = 'IngestError';
  readonly statusCode: number;
  constructor(
    readonly kind: IngestErrorKind,
    message: string,
    /** Seconds, for 429 and 503. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.statusCode = STATUS[kind];
  }
}
