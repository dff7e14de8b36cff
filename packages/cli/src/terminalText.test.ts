import { describe, expect, it } from 'vitest';
import { terminalJson, terminalText } from './terminalText.js';

// Every character a terminal may act on: C0, DEL, C1.
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  '\x7f',
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)),
];
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe('terminalText', () => {
  it('writes every C0, DEL and C1 character as a visible escape', () => {
    for (const c of CONTROLS) expect(terminalText(`a${c}b`)).not.toMatch(RAW_CONTROL);
    // Title, clear screen, clipboard (OSC 52), and the 8-bit CSI.
    expect(terminalText('\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobw==\x07\u009b31m')).toBe(
      '\\x1b]0;pwned\\x07\\x1b[2J\\x1b]52;c;ZWNobw==\\x07\\u009b31m',
    );
    expect(terminalText('lone \x1b')).toBe('lone \\x1b');
    expect(terminalText('\x00\x7f\x80\x9f')).toBe('\\x00\\x7f\\u0080\\u009f');
  });

  it('keeps a value on one line: newlines, returns and tabs are escaped too', () => {
    expect(terminalText('one\ntwo\r\nthree\tfour')).toBe('one\\ntwo\\r\\nthree\\tfour');
  });

  it('leaves printable text alone, non-ASCII included', () => {
    const text = 'page_view /path?q=1 "quoted" \\ back café ñ 日本 🚀 \u00a0nbsp';
    expect(terminalText(text)).toBe(text);
  });
});

describe('terminalJson', () => {
  it('is the same JSON to a parser, with no raw control character left (JSON.stringify leaves DEL and C1)', () => {
    const value = { event: `e${CONTROLS.join('')}`, nested: [{ '\u009bkey': '\x7f' }], n: 1 };
    expect(JSON.stringify(value)).toMatch(RAW_CONTROL);
    for (const space of [undefined, 2]) {
      const json = terminalJson(value, space);
      // The only control characters left are the newlines of `space`'s layout.
      expect(json.replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
      expect(JSON.parse(json)).toEqual(value);
    }
    expect(terminalJson(value, 2).split('\n').length).toBe(JSON.stringify(value, null, 2).split('\n').length);
  });
});
