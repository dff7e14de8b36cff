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

function terminalIo(columns: number | undefined) {
  const writes: string[] = [];
  const io = {
    stdout: { write: () => true },
    stderr: {
      write: (t: string) => writes.push(t),
      isTTY: true,
      ...(columns === undefined ? {} : { columns }),
    },
  };
  return { io, writes };
}

describe('flush progress on a terminal', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  // A redraw wider than the terminal wraps: the next `\r` goes back to the start of the last
  // row only, and each batch scrolled a line (the bar was 30 wide whatever the terminal).
  it.each([40, 56, 30])('keeps each redraw within a terminal %i columns wide', (columns) => {
    vi.stubEnv('TERM', 'xterm-256color');
    const { io, writes } = terminalIo(columns);
    const progress = new Progress(io, 20_000);
    for (let i = 0; i < 200; i++) progress.add(100);
    expect(writes.at(-1)).toContain('100% 20000/20000 events');
    for (const w of writes) expect(w.replace(/^\r/, '').length).toBeLessThan(columns);
  });

  it('draws the full 30-column bar on a wide terminal, and fills it at the end', () => {
    vi.stubEnv('TERM', 'xterm-256color');
    const { io, writes } = terminalIo(120);
    const progress = new Progress(io, 10);
    progress.add(10);
    expect(writes).toEqual([`\r[${'#'.repeat(30)}] 100% 10/10 events`]);
  });

  // A pty opened with no size reports 0 columns: read as 80, not as no room at all (a blank redraw).
  it('a terminal that reports 0 columns gets the bar of an 80-column one', () => {
    vi.stubEnv('TERM', 'xterm-256color');
    const { io, writes } = terminalIo(0);
    new Progress(io, 10).add(10);
    expect(writes).toEqual([`\r[${'#'.repeat(30)}] 100% 10/10 events`]);
  });

  it('too narrow for a bar: redraws the counts alone', () => {
    vi.stubEnv('TERM', 'xterm-256color');
    const { io, writes } = terminalIo(20);
    new Progress(io, 10).add(5);
    expect(writes).toEqual(['\r 50% 5/10 events']);
  });

  // TERM=dumb (Emacs' shell, some CI consoles) shows `\r` and escape sequences as text.
  it('with TERM=dumb: plain lines, no carriage return and no escape sequence', () => {
    vi.stubEnv('TERM', 'dumb');
    const { io, writes } = terminalIo(80);
    const progress = new Progress(io, 20);
    progress.add(10);
    progress.failed('homing:http://127.0.0.1:1', 'connection refused', 7_000);
    progress.add(10);
    progress.end();
    expect(writes).toEqual([
      'flush: 10/20 events sent\n',
      'flush: attempt to homing:http://127.0.0.1:1 failed: connection refused; next try in 7s\n',
      'flush: 20/20 events sent\n',
    ]);
  });
});
