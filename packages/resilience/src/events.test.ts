import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { Emitter } from './events.js';

describe('Emitter', () => {
  it('calls listeners in order until they are disposed; dispose twice is harmless', () => {
    const e = new Emitter<number>();
    const seen: string[] = [];
    expect(e.listening).toBe(false);
    const a = e.subscribe((v) => seen.push(`a${v}`));
    e.subscribe((v) => seen.push(`b${v}`));
    expect(e.listening).toBe(true);
    e.emit(1);
    a.dispose();
    a.dispose();
    e.emit(2);
    expect(seen).toEqual(['a1', 'b1', 'b2']);
  });

  it('a listener disposing itself during emit does not skip the next one', () => {
    const e = new Emitter<void>();
    const seen: string[] = [];
    const first = e.subscribe(() => {
      seen.push('first');
      first.dispose();
    });
    e.subscribe(() => seen.push('second'));
    e.emit();
    e.emit();
    expect(seen).toEqual(['first', 'second', 'second']);
  });

  it('a throwing listener does not stop the others; its error surfaces on a microtask', async () => {
    const e = new Emitter<void>();
    const errors: unknown[] = [];
    const onError = (error: unknown): void => void errors.push(error);
    process.on('uncaughtException', onError);
    let reached = false;
    try {
      e.subscribe(() => {
        throw new Error('listener bug');
      });
      e.subscribe(() => (reached = true));
      e.emit();
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(reached).toBe(true);
    expect(errors).toEqual([new Error('listener bug')]);
  });

  it('rejects a listener that is not a function; clear() removes all', () => {
    const e = new Emitter<void>();
    expect(() => e.subscribe(5 as never)).toThrow(ConfigError);
    expect(() => e.subscribe(null as never)).toThrow(/"listener".*got null/);
    e.subscribe(() => undefined);
    e.clear();
    expect(e.listening).toBe(false);
  });
});
