import { parseStack, type ParseStackLimits } from './parseStack.js';
import type { StackFrame } from './types.js';

/**
 * Parsed frames of recent stacks, so an error thrown again from the same place (the usual case:
 * a failing route under load throws the same stack on every request) is not parsed again. Keyed
 * by the frames part of a V8 stack, which is the same whatever the message says; stacks of other
 * engines, and V8 stacks whose message itself holds "at" lines, are keyed whole. Bounded: the
 * oldest entry leaves when a new one comes in over `capacity`. The frames handed out are shared
 * and frozen: an error that is sent takes `copyFrames` of them, because events are handed to the
 * pipeline and may be changed there; one only counted (a duplicate) costs no copy.
 */
export class ParsedStackCache {
  readonly #entries = new Map<string, readonly StackFrame[]>();

  constructor(
    readonly capacity: number,
    readonly limits: ParseStackLimits,
    readonly isInApp: (file: string | null) => boolean,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  frames(stack: string): readonly StackFrame[] {
    const key = framesKey(stack);
    let frames = this.#entries.get(key);
    if (frames === undefined) {
      const parsed = parseStack(stack, this.limits, this.isInApp);
      for (const f of parsed) Object.freeze(f);
      frames = Object.freeze(parsed);
      if (this.capacity > 0) {
        if (this.#entries.size >= this.capacity) {
          this.#entries.delete(this.#entries.keys().next().value as string);
        }
        this.#entries.set(key, frames);
      }
    }
    return frames;
  }
}

/** Fresh, writable copies of frames. */
export function copyFrames(frames: readonly StackFrame[]): StackFrame[] {
  const out: StackFrame[] = new Array<StackFrame>(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    out[i] = { file: f.file, line: f.line, column: f.column, function: f.function, inApp: f.inApp };
  }
  return out;
}

const FIRST_V8_FRAME = '\n    at ';

function framesKey(stack: string): string {
  const start = stack.indexOf(FIRST_V8_FRAME);
  if (start < 0) return stack;
  // The message decides nothing only when none of its lines is frame-like.
  return stack.slice(0, start).split('\n').some(isFrameLike) ? stack : `v8${stack.slice(start)}`;
}

/** A line that parseStack would also take for a V8 frame (linear: no regex backtracking). */
function isFrameLike(line: string): boolean {
  const t = line.trimStart();
  return t.length < line.length && t.startsWith('at ');
}
