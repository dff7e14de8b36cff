import { afterEach, describe, expect, it, vi } from 'vitest';
import { Progress } from './flushProgress.js';

function plainIo() {
  const lines: string[] = [];
  const io = { stdout: { write: () => true }, stderr: { write: (t: string) => lines.push(t), isTTY: false } };
  return { io, lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('flush progress without a terminal', () => {
  it('writes the first batch, each tenth passed and the last, not a line per batch', () => {
    const { io, lines } = plainIo();
    const progress = new Progress(io, 20_000);
    for (let i = 0; i < 200; i++) progress.add(100);
    expect(lines[0]).toBe('flush: 100/20000 events sent\n');
    expect(lines.at(-1)).toBe('flush: 20000/20000 events sent\n');
    expect(lines.length).toBeLessThanOrEqual(12);
    const counts = lines.map((l) => Number(/flush: (\d+)\//.exec(l)![1]));
    expect(counts.every((n, i) => i === 0 || n > counts[i - 1]!)).toBe(true);
  });

  it('writes a line at least every 5 s while a slow flush stays within one tenth', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const { io, lines } = plainIo();
    const progress = new Progress(io, 100_000);
    progress.add(100);
    progress.add(100);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(5_000);
    progress.add(100);
    expect(lines).toEqual(['flush: 100/100000 events sent\n', 'flush: 300/100000 events sent\n']);
  });

  it('a flush of more than it counted at the start (events added meanwhile) still ends with its last line', () => {
    const { io, lines } = plainIo();
    const progress = new Progress(io, 150);
    progress.add(100);
    progress.add(100);
    expect(lines.at(-1)).toBe('flush: 200/200 events sent\n');
  });
});
