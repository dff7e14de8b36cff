import stringWidth from 'string-width';

/**
 * How many terminal columns `text` takes: a CJK character or most emoji take two, a combining
 * accent none. `.length` counts UTF-16 units, so a column padded by it was too narrow after
 * `テレメトリ` (5 units, 10 columns) and too wide after `café` written with a combining accent.
 */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/** `text` followed by spaces up to `width` columns (`padEnd` counting columns, not units). */
export function padToWidth(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}
