import { isInAppFile } from './isInAppFile.js';
import type { StackFrame } from './types.js';

/**
 * Parses `error.stack` of V8 (Node, Chrome, Edge), SpiderMonkey (Firefox) and JavaScriptCore
 * (Safari) into frames, innermost first. Hand-written line scanning rather than one regex
 * per engine: stacks can be huge and attacker-influenced (a URL in a frame), so nothing here
 * backtracks, and every line costs time linear in its length.
 *
 * Eval frames are attributed to the script that called eval (its file and line), as that is
 * the code a developer can open.
 */
export interface ParseStackLimits {
  /** Frames kept (the innermost ones). */
  maxFrames: number;
  /** Lines longer than this are skipped: no real frame is that long. */
  maxLineLength: number;
}

export const defaultParseStackLimits: ParseStackLimits = { maxFrames: 50, maxLineLength: 2048 };

export function parseStack(
  stack: string,
  limits: ParseStackLimits = defaultParseStackLimits,
  isInApp: (file: string | null) => boolean = isInAppFile,
): StackFrame[] {
  const frames: StackFrame[] = [];
  if (typeof stack !== 'string' || stack === '' || limits.maxFrames <= 0) return frames;
  const lines = stack.split('\n');
  // A V8 stack starts with the message, which may span lines and hold anything ('@', ':1:2'),
  // so in V8 stacks only "at" lines are frames.
  const v8 = lines.some(isV8Line);
  for (const raw of lines) {
    if (raw.length > limits.maxLineLength) continue;
    const parsed = v8
      ? isV8Line(raw)
        ? parseV8Line(raw.trim().slice(3))
        : null
      : parseGeckoLine(raw.trim());
    if (parsed === null) continue;
    parsed.inApp = isInApp(parsed.file);
    frames.push(parsed);
    if (frames.length >= limits.maxFrames) break;
  }
  return frames;
}

// Frames are built in one fixed shape (no spreads): this runs for every line of every capture.
type Parsed = StackFrame;
type Location = Pick<StackFrame, 'file' | 'line' | 'column'>;

function frame(loc: Location, fn: string | null): StackFrame {
  return { file: loc.file, line: loc.line, column: loc.column, function: fn, inApp: false };
}

function isV8Line(line: string): boolean {
  const t = line.trimStart();
  return t.startsWith('at ') && line.length > t.length;
}

function parseV8Line(rest: string): Parsed | null {
  if (rest.startsWith('async ')) rest = rest.slice(6);
  if (rest === '') return null;
  if (rest.endsWith(')')) {
    const open = matchingOpen(rest, rest.length - 1);
    if (open > 0) {
      const fn = rest.slice(0, open).trim();
      return withFunction(parseV8Location(rest.slice(open + 1, -1)), fn);
    }
  }
  // "at file:1:2": an anonymous function, the whole rest is the location.
  return withFunction(parseV8Location(rest), '');
}

function withFunction(location: Location, fn: string): Parsed {
  return frame(location, fn === '' || fn === '<anonymous>' ? null : fn);
}

/** Index of the "(" that the ")" at `close` closes, or -1. */
function matchingOpen(s: string, close: number): number {
  let depth = 0;
  for (let i = close; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c === 41 /* ) */) depth++;
    else if (c === 40 /* ( */ && --depth === 0) return i;
  }
  return -1;
}

function parseV8Location(loc: string): Location {
  // "eval at run (file:///app/x.js:3:5), <anonymous>:1:1", possibly nested: keep the script
  // that called eval, the innermost "(...)" of the chain.
  while (loc.startsWith('eval at ')) {
    const open = loc.indexOf('(');
    if (open < 0) return { file: null, line: null, column: null };
    let depth = 0;
    let close = -1;
    for (let i = open; i < loc.length; i++) {
      const c = loc.charCodeAt(i);
      if (c === 40) depth++;
      else if (c === 41 && --depth === 0) {
        close = i;
        break;
      }
    }
    if (close < 0) return { file: null, line: null, column: null };
    loc = loc.slice(open + 1, close);
  }
  if (loc === 'native' || loc === '<anonymous>' || loc.startsWith('index ')) {
    // "Array.map (<anonymous>)", "Promise.all (index 0)": runtime code with no source.
    return { file: loc === '<anonymous>' ? '<anonymous>' : 'native', line: null, column: null };
  }
  return splitLocation(loc);
}

/** "file:line:col" → parts, reading the numbers from the end (files and URLs contain ':'). */
function splitLocation(loc: string): Location {
  const last = trailingNumber(loc);
  if (last === null) return { file: loc === '' ? null : loc, line: null, column: null };
  const head = loc.slice(0, last.start - 1);
  const prev = trailingNumber(head);
  if (prev === null) return { file: head === '' ? null : head, line: last.value, column: null };
  const file = head.slice(0, prev.start - 1);
  return { file: file === '' ? null : file, line: prev.value, column: last.value };
}

/** The number after the last ':' of `s`, if `s` ends with ":digits". */
function trailingNumber(s: string): { value: number; start: number } | null {
  let i = s.length;
  while (i > 0) {
    const c = s.charCodeAt(i - 1);
    if (c < 48 || c > 57) break;
    i--;
  }
  if (i === s.length || i === 0 || s.charCodeAt(i - 1) !== 58 /* : */ || s.length - i > 9) return null;
  return { value: Number(s.slice(i)), start: i };
}

const NO_LOCATION: Location = { file: null, line: null, column: null };

/**
 * Firefox: `fn@url:line:col`, `async*fn@...`, `fn@url line 3 > eval:1:5`;
 * Safari: `fn@url:line:col`, `fn@[native code]`, `global code@url:1:1`, a bare `eval code`.
 */
function parseGeckoLine(line: string): Parsed | null {
  if (line === '') return null;
  const at = line.indexOf('@');
  if (at < 0) {
    // Safari prints frames of code without a source as just a name ("eval code", "forEach").
    if (/^(?:eval|global|module) code$/.test(line)) return frame(NO_LOCATION, line);
    if (line.includes(' ')) return null;
    // Older Safari prints anonymous frames as a bare location.
    const bare = splitLocation(line);
    if (bare.line !== null) return frame(bare, null);
    return line.includes(':') ? null : frame(NO_LOCATION, line);
  }
  let fn = line.slice(0, at);
  const star = fn.lastIndexOf('*');
  if (star >= 0) fn = fn.slice(star + 1); // "async*run", "promise callback*run"
  const loc = line.slice(at + 1);
  if (loc === '[native code]') return frame({ file: '[native code]', line: null, column: null }, fn || null);
  const evalAt = loc.indexOf(' line ');
  if (evalAt > 0 && (loc.includes(' > eval') || loc.includes(' > Function'))) {
    // "url line 10 > eval:1:5": line 10 of url called eval.
    const n = Number.parseInt(loc.slice(evalAt + 6), 10);
    return frame(
      { file: loc.slice(0, evalAt), line: Number.isFinite(n) ? n : null, column: null },
      fn || 'eval',
    );
  }
  const parts = splitLocation(loc);
  if (parts.line === null) return null;
  return frame(parts, fn === '' ? null : fn);
}
