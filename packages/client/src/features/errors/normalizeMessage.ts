/**
 * Replaces the parts of an error message that change between occurrences of the same bug
 * (ids, numbers, paths, quoted values, addresses) with placeholders, so
 * `User 42 not found` and `User 97 not found` group together. The order matters: URLs and
 * emails go first so their digits and slashes are not taken apart by the later rules.
 *
 * Every pattern is a simple character-class run (no nested quantifiers): messages are
 * app-controlled and may be long, and this runs on every capture.
 */
const RULES: readonly [RegExp, string][] = [
  [/\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s'"`<>()]+/gi, '<url>'],
  [/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, '<email>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  // ISO 8601 dates and times (2024-01-02, 2024-01-02T03:04:05.123Z, ...+02:00), before the
  // numbers rule would leave "T03" and "123Z" behind.
  [
    /\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?(?![\w:])/gi,
    '<time>',
  ],
  [/'[^'\n]{0,500}'|"[^"\n]{0,500}"|`[^`\n]{0,500}`/g, '<str>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  // Hex ids (object ids, hashes, request ids): 8+ hex chars with at least one digit, so
  // plain words like "deadbeef" in prose are rare collateral.
  [/(?:\b|(?<=_))(?=[a-f]*\d)[0-9a-f]{8,}\b/gi, '<hex>'],
  // Unix paths with two segments or more, Windows paths with a drive letter.
  [/(?:^|(?<=[\s=:([]))(?:~|\.{1,2})?(?:\/[\w.@+-]+){2,}\/?/g, '<path>'],
  [/\b[a-z]:\\[^\s'"`]+/gi, '<path>'],
  // Numbers, also after "_" (user_42) and before a unit suffix (35ms, 10MB, 2nd), which is
  // kept, so "35ms" and "35 s" stay apart. Digits inside words (base64, utf8, ipv6) stay.
  [/-?(?:\b|(?<=_))\d+(?:\.\d+)?(?:e[+-]?\d+)?(?=[a-z_]*\b)/gi, '<num>'],
];

/** Longest message looked at; the rest cannot change the group. */
export const NORMALIZE_MAX_LENGTH = 1000;

export function normalizeMessage(message: string): string {
  let m = message.length > NORMALIZE_MAX_LENGTH ? message.slice(0, NORMALIZE_MAX_LENGTH) : message;
  for (const [pattern, placeholder] of RULES) m = m.replace(pattern, placeholder);
  return m.replace(/\s+/g, ' ').trim();
}
