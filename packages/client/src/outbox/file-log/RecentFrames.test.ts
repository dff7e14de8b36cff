import { describe, expect, it } from 'vitest';
import { RecentFrames } from './RecentFrames.js';

const rec = (i: number, jsonBytes = 100) => ({
  uuid: `u${i}`,
  json: 'x'.repeat(jsonBytes),
  timestampMs: 1000 + i,
  jsonBytes,
});

describe('RecentFrames', () => {
  it('keeps each frame of a group by its offset in the segment, with where the next one starts', () => {
    const frames = new RecentFrames(10_000);
    // Three frames at 0, 150 and 300 of a group written at 4096; the group is 450 bytes.
    frames.addGroup('seg-a', 4096, 450, [rec(0), rec(1), rec(2)], [0, 150, 300]);
    expect(frames.get('seg-a', 4096)).toMatchObject({ record: { uuid: 'u0', timestampMs: 1000 }, end: 4246 });
    expect(frames.get('seg-a', 4246)).toMatchObject({ record: { uuid: 'u1' }, end: 4396 });
    expect(frames.get('seg-a', 4396)).toMatchObject({ record: { uuid: 'u2' }, end: 4546 });
    expect(frames.get('seg-a', 4100)).toBeUndefined();
    expect(frames.get('seg-b', 4096)).toBeUndefined();
    expect(frames.bytes).toBe(300);
  });

  it('stops adding at its bound and keeps the oldest, which a claim needs first', () => {
    const frames = new RecentFrames(250);
    frames.addGroup('s', 0, 600, [rec(0), rec(1), rec(2), rec(3)], [0, 150, 300, 450]);
    expect(frames.bytes).toBe(200);
    expect(frames.get('s', 0)?.record.uuid).toBe('u0');
    expect(frames.get('s', 150)?.record.uuid).toBe('u1');
    expect(frames.get('s', 300)).toBeUndefined();
    expect(frames.isSkipping).toBe(true);
    // Room again once a frame leaves, but a newer group is still left out: kept, it would sit
    // ahead of the frames left out (300, 450), which the claims need first.
    frames.delete('s', 0);
    frames.addGroup('s', 600, 150, [rec(4)], [0]);
    expect(frames.get('s', 600)).toBeUndefined();
    expect(frames.keepWritten('s', 750, 900, rec(5), 100)).toBe(false);
    // What a claim reads from disk ahead of itself fills the room in order...
    expect(frames.add('s', 300, 450, rec(2), 100)).toBe(true);
    expect(frames.add('s', 450, 600, rec(3), 100)).toBe(false);
    // ...and once a claim has read through to the newest frame, new groups are kept again.
    frames.delete('s', 150);
    frames.delete('s', 300);
    frames.resume();
    expect(frames.isSkipping).toBe(false);
    frames.addGroup('s', 900, 150, [rec(6)], [0]);
    expect(frames.get('s', 900)?.record.uuid).toBe('u6');
    expect(frames.bytes).toBe(100);
  });

  it('keeps nothing with a bound of 0', () => {
    const frames = new RecentFrames(0);
    frames.addGroup('s', 0, 150, [rec(0)], [0]);
    expect(frames.get('s', 0)).toBeUndefined();
    expect(frames.bytes).toBe(0);
  });

  it('forgets single frames and whole segments, and counts the bytes back', () => {
    const frames = new RecentFrames(10_000);
    frames.addGroup('a', 0, 300, [rec(0), rec(1)], [0, 150]);
    frames.addGroup('b', 0, 300, [rec(2), rec(3)], [0, 150]);
    frames.delete('a', 150);
    frames.delete('a', 150);
    frames.delete('zzz', 0);
    expect(frames.bytes).toBe(300);
    frames.deleteSegment('b');
    expect(frames.get('b', 0)).toBeUndefined();
    expect(frames.bytes).toBe(100);
    frames.clear();
    expect(frames.get('a', 0)).toBeUndefined();
    expect(frames.bytes).toBe(0);
  });
});
