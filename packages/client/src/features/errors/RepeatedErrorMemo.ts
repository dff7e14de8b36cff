import { detach, read, type ReadError } from './describeError.js';

/** Distinct errors remembered; the oldest is forgotten first. */
export const REPEATED_ERRORS_KEPT = 8;

/**
 * Longest error remembered: its name, message and stack together, in UTF-16 units. The texts are
 * kept whole (what is compared must be all of it), so this bounds what the memo holds: at most
 * 8 × 64 KB, where keeping any error held an app's 50 MB message until 8 others replaced it.
 * Real stacks are a few KB; a longer error is described again, which its limits keep bounded.
 */
export const MAX_REMEMBERED_LENGTH = 32_768;

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
 * repeat with this memo, 43 000–50 000 without). Errors longer than `MAX_REMEMBERED_LENGTH` are
 * not remembered, and what is remembered is a copy, never the app's own strings, which may be
 * slices keeping a far larger text alive.
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
    this.#readings[this.#next] = {
      name: detach(reading.name as string),
      message: detach(reading.message as string),
      stack: detach(reading.stack as string),
    };
    this.#summaries[this.#next] = summary;
    this.#next = (this.#next + 1) % REPEATED_ERRORS_KEPT;
  }
}

/**
 * Only strings decide a description alone; an error without a name is typed by its
 * constructor, which the three strings do not show. Only short ones are kept (see
 * `MAX_REMEMBERED_LENGTH`), so a long one is not even compared.
 */
function remembered(r: ReadError): boolean {
  return (
    typeof r.name === 'string' &&
    r.name !== '' &&
    typeof r.message === 'string' &&
    typeof r.stack === 'string' &&
    r.name.length + r.message.length + r.stack.length <= MAX_REMEMBERED_LENGTH
  );
}
