import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointLogWal, holdLogWrites } from './sqlite-log-checkpoint.js';
import { TURN_SLOTS, WriteTurn } from './sqlite-write-turn.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A WAL database with a writer (the store's connection) and a checkpointer (the worker's). */
function setUp() {
  const dir = mkdtempSync(join(tmpdir(), 'homing-logcp-'));
  dirs.push(dir);
  const file = join(dir, 'log.db');
  const writer = new Database(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('wal_autocheckpoint = 0');
  writer.exec('CREATE TABLE t (x BLOB)');
  const insert = writer.prepare('INSERT INTO t (x) VALUES (?)');
  const checkpointer = new Database(file);
  const write = (frames: number): void => {
    for (let i = 0; i < frames; i++) insert.run(Buffer.alloc(3000, i));
  };
  /** The WAL header's salt, which SQLite changes each time the WAL starts over. */
  const salt = (): string => readSalt(`${file}-wal`);
  return { writer, checkpointer, write, salt };
}

/** Bytes 16-23 of the WAL header. */
function readSalt(wal: string): string {
  const fd = openSync(wal, 'r');
  try {
    const b = Buffer.alloc(8);
    readSync(fd, b, 0, 8, 16);
    return b.toString('hex');
  } finally {
    closeSync(fd);
  }
}

/** The checkpointer's connection, noting whether log writes were held at each of its calls. */
function recordHold(checkpointer: Database.Database, turn: WriteTurn) {
  const seen: number[] = [];
  const spy = {
    pragma: (source: string) => {
      seen.push(Atomics.load(turn.shared, TURN_SLOTS.logHold));
      return checkpointer.pragma(source);
    },
  };
  return { seen, spy };
}

describe('checkpointLogWal', () => {
  it('below its bound: one checkpoint, no hold', () => {
    const { writer, checkpointer, write } = setUp();
    const turn = new WriteTurn();
    write(5);
    const { seen, spy } = recordHold(checkpointer, turn);
    expect(checkpointLogWal(spy, 100, (fn) => holdLogWrites(turn.shared, TURN_SLOTS, fn))).toBe('below');
    expect(seen).toEqual([0]);
    writer.close();
    checkpointer.close();
  });

  it('past its bound: checkpoints the rest with log writes held, and the next write starts the WAL over', () => {
    const { writer, checkpointer, write, salt } = setUp();
    const turn = new WriteTurn();
    write(50);
    const before = salt();
    const { seen, spy } = recordHold(checkpointer, turn);
    expect(checkpointLogWal(spy, 10, (fn) => holdLogWrites(turn.shared, TURN_SLOTS, fn))).toBe('held');
    // The first checkpoint without the hold, the second with it; let go afterwards.
    expect(seen).toEqual([0, 1]);
    expect(Atomics.load(turn.shared, TURN_SLOTS.logHold)).toBe(0);
    const size = statSync(`${writer.name}-wal`).size;
    write(5);
    expect(salt()).not.toBe(before);
    // Written from the top: the file did not grow.
    expect(statSync(`${writer.name}-wal`).size).toBe(size);
    writer.close();
    checkpointer.close();
  });

  it('lets the hold go after 50 ms when the store keeps writing, and says so', () => {
    const { writer, checkpointer, write } = setUp();
    const turn = new WriteTurn();
    write(50);
    Atomics.store(turn.shared, TURN_SLOTS.logWriting, 1);
    const started = performance.now();
    expect(checkpointLogWal(checkpointer, 10, (fn) => holdLogWrites(turn.shared, TURN_SLOTS, fn))).toBe(
      'writer-busy',
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(Atomics.load(turn.shared, TURN_SLOTS.logHold)).toBe(0);
    writer.close();
    checkpointer.close();
  });

  it('holds the store: a log write waits for the held checkpoint, then goes on', async () => {
    const { writer, checkpointer, write } = setUp();
    const turn = new WriteTurn();
    write(50);
    // The hold as the worker takes it, seen from the store's side.
    Atomics.store(turn.shared, TURN_SLOTS.logHold, 1);
    let wrote = false;
    const pending = turn.logWrite(() => {
      write(1);
      wrote = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(wrote).toBe(false);
    Atomics.store(turn.shared, TURN_SLOTS.logHold, 0);
    Atomics.notify(turn.shared, TURN_SLOTS.logHold);
    await pending;
    expect(wrote).toBe(true);
    writer.close();
    checkpointer.close();
  });
});
