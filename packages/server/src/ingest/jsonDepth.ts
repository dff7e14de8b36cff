/**
 * Levels of a request body around an event's properties, at their deepest:
 * `{ "batch": [ { "properties": {` is body, batch array, event, then properties (its level 1).
 * Every wire format maps what it sends onto the stored event at this depth or shallower
 * (Segment's `traits` and `context`, PostHog's top-level `$set`, sit beside the properties as
 * sent and inside them as stored, so they are stored a level deeper than they arrive).
 */
const ENVELOPE_LEVELS = 3;

/**
 * Levels past the deepest an event may be, before a body is refused whole: an event a little
 * too deep is refused alone (named by its index, the rest of its batch stored), as it was
 * before the body's depth was bounded. Parsing a hundred levels costs nothing; millions do.
 */
const LENIENCY_LEVELS = 64;

/**
 * The deepest nesting an ingest body may have (counting the body itself as level 1), for
 * events whose properties may nest `maxPropertiesDepth` levels.
 */
export function maxBodyDepth(maxPropertiesDepth: number): number {
  return maxPropertiesDepth + ENVELOPE_LEVELS + LENIENCY_LEVELS;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/**
 * Whether `text`, read as JSON, opens more than `maxDepth` arrays and objects inside each other.
 * One pass over the text, before JSON.parse: V8's parser takes seconds on a few million levels
 * (a 10 KB gzip body inflates to that), holding the event loop before any key or limit is
 * checked. Brackets inside strings are skipped, honouring backslash escapes. It does not check
 * that the text is JSON: anything it passes goes to JSON.parse, which does.
 *
 * The same pass hands `onLongNumber` each number outside strings that JSON.parse may not hold
 * exactly (16 characters or more, or with an exponent), by its start and end: the pass is
 * the one place that knows a number from digits inside a string without a second reading.
 */
export function nestedDeeperThan(
  text: string,
  maxDepth: number,
  onLongNumber?: (start: number, end: number) => void,
): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // To the closing quote: the next one after an even run of backslashes (an odd run escapes
      // it). indexOf skips string contents about twice as fast as charCodeAt would.
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q === -1) return false;
        let b = q - 1;
        while (text.charCodeAt(b) === BACKSLASH) b--;
        i = q;
        if ((q - 1 - b) % 2 === 0) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    } else if (onLongNumber !== undefined && ((c >= DIGIT_0 && c <= DIGIT_9) || c === MINUS)) {
      let end = i + 1;
      let exponent = false;
      for (; end < n; end++) {
        const d = text.charCodeAt(end);
        if (d === LOWER_E || d === UPPER_E) exponent = true;
        else if (!((d >= DIGIT_0 && d <= DIGIT_9) || d === DOT || d === PLUS || d === MINUS)) break;
      }
      // Not in a key's place (followed by ':'): that is no JSON, and must not be made some.
      if ((exponent || end - i >= 16) && !followedByColon(text, end)) onLongNumber(i, end);
      i = end - 1;
    }
  }
  return false;
}

function followedByColon(text: string, from: number): boolean {
  for (let k = from; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x3a) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return false;
}
