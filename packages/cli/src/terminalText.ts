/**
 * Text the CLI did not write itself (event names and properties, an endpoint's answer kept in a
 * dead letter's reason, names and states read from an outbox's files, error messages) made safe
 * to print to a terminal. An escape sequence in any of them would reach the terminal as a command
 * (set the window title, clear the screen, write the clipboard with OSC 52), and a newline in one
 * would break a row of a table or fake a line of the CLI's own. Control characters are shown as
 * escapes instead: C0 and DEL as `\x1b` (`\n`, `\r`, `\t` for the common three), C1 as `\u009b`.
 */

// C0, DEL and C1: every character a terminal may read as (part of) a command.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// JSON.stringify escapes C0 itself, and writes DEL and C1 as they are.
const UNESCAPED_BY_JSON = /[\u007f-\u009f]/g;

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex = (c: string): string => c.charCodeAt(0).toString(16).padStart(2, '0');

/** `value` with each control character (C0, DEL, C1) written as a visible escape. */
export function terminalText(value: string): string {
  return value.replace(CONTROL, (c) => SHORT[c] ?? (c < '\u0080' ? `\\x${hex(c)}` : `\\u00${hex(c)}`));
}

/**
 * JSON.stringify, with DEL and C1 written as \u escapes too: the same JSON to a parser, and no
 * raw control character for a terminal to act on.
 */
export function terminalJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(UNESCAPED_BY_JSON, (c) => `\\u00${hex(c)}`);
}
