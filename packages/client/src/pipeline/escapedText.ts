/**
 * A string as it reads once its escapes are undone: ASCII percent-escapes (`%3D` → `=`, `%20` →
 * ` `), as a URL carries another URL in its query (`?next=%2Fcb%3Fapi_key%3D…`), and the
 * escaped quotes and backslashes of JSON written into a string (`{\"password\":\"…\"}`). Only
 * ASCII escapes are decoded: every secret pattern keys on ASCII, and a lone byte of a UTF-8
 * sequence decodes to nothing meaningful. `s` itself when there is nothing to undo.
 */
export function unescapedText(s: string): string {
  const percent = s.indexOf('%') !== -1;
  const backslash = s.indexOf('\\') !== -1;
  if (!percent && !backslash) return s;
  let out = s;
  if (percent)
    out = out.replace(ASCII_PERCENT_ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  if (backslash) out = out.replace(JSON_QUOTE_ESCAPE, '$1');
  return out;
}

const ASCII_PERCENT_ESCAPE = /%([0-7][0-9A-Fa-f])/g;
const JSON_QUOTE_ESCAPE = /\\(["\\])/g;
