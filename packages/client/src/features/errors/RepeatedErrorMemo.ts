import { read, type ReadError } from './describeError.js';

/** Distinct errors remembered; the oldest is forgotten first. */
export const REPEATED_ERRORS_KEPT = 8;

/** What grouping needs of a described error: its entry's type and message, and its fingerprint. */
export interface ErrorSummary {
  readonly type: string;
  readonly value: string;
  readonly fingerprint: string;
}

/**
 * The summaries of the last few errors described, by their name, message and stack text. An error
 * with the same three strings is described the same way (its type is its name, its message is
 * cut the same, and its stack parses to the same frames), so it has the same fingerprint: the
 * same throw site failing request after request is recognised by three string comparisons
 * instead of being described again. That matters because errors are rare next to requests: in a
 * loaded server throwing on 1 request in 50, V8 never optimised the capturing code, and
 * describing, keying the stack cache by the frames' text and looking up the fingerprint were
 * most of what it ran (unoptimised, counted by callgrind: 19 500 instructions to capture a
 * repeat with this memo, 43 000–50 000 without).
 */
export class RepeatedErrorMemo {
  readonly #readings: (ReadError | undefined)[] = new Array<ReadError | undefined>(REPEATED_ERRORS_KEPT).fill(
    undefined,
  );
  readonly #summaries: (ErrorSummary | undefined)[] = new Array<ErrorSummary | undefined>(
    REPEATED_ERRORS_KEPT,
  ).fill(undefined);
  #next = 0;

  /** The name, message and stack of an error object (read once, for `describeError` too). */
  static read(error: object): ReadError {
    return { name: read(error, 'name'), message: read(error, 'message'), stack: read(error, 'stack') };
  }

  recall(reading: ReadError): ErrorSummary | undefined {
    if (!remembered(reading)) return undefined;
    // V8 hands out a new stack as a tree of joined pieces, and compares such a string a piece at a
    // time: reading a character first makes it one flat string, and the comparison nine times
    // faster (1.8 µs against 0.2 for a 560-character stack, unoptimised).
    (reading.stack as string).charCodeAt(0);
    for (let i = 0; i < REPEATED_ERRORS_KEPT; i++) {
      const known = this.#readings[i];
      if (
        known !== undefined &&
        known.stack === reading.stack &&
        known.message === reading.message &&
        known.name === reading.name
      ) {
        return this.#summaries[i];
      }
    }
    return undefined;
  }

  remember(reading: ReadError, summary: ErrorSummary): void {
    if (!remembered(reading)) return;
    this.#readings[this.#next] = reading;
    this.#summaries[this.#next] = summary;
    this.#next = (this.#next + 1) % REPEATED_ERRORS_KEPT;
  }
}

/**
 * Only strings decide a description alone; an error without a name is typed by its
 * constructor, which the three strings do not show.
 */
function remembered(r: ReadError): boolean {
  return (
    typeof r.name === 'string' &&
    r.name !== '' &&
    typeof r.message === 'string' &&
    typeof r.stack === 'string'
  );
}
