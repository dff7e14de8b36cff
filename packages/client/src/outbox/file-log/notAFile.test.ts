import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { drain } from '../outbox.contract.js';
import { FileOutbox } from './FileOutbox.js';
import { outboxWarningInto, record, within } from './notOurs.test-helpers.js';
import { FileOutboxInspector } from './FileOutboxInspector.js';
import { cutTail } from './segmentFile.js';

const SEGMENT_NAME = '001700000000000-1-aaaaaaaa.log';
const dirs: string[] = [];
const open: FileOutbox[] = [];
const fifos: string[] = [];
afterEach(async () => {
  // A reader still blocked in open() (before the fix) is let go, or it holds a pool thread for good.
  for (const fifo of fifos.splice(0)) {
    await fs.open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then(
      (h) => h.close(),
      () => {},
    );
  }
  for (const o of open.splice(0)) await o.close().catch(() => {});
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-not-a-file-'));
  dirs.push(dir);
  return dir;
}

function outbox(directory: string, warnings: string[] = []): FileOutbox {
  const o = outboxWarningInto(directory, warnings);
  open.push(o);
  return o;
}

describe('an entry named like a segment that is not a file of the outbox', () => {
  it('a symlink to a file elsewhere: never read, cut or deleted through; skipped with a warning', async () => {
    const dir = tempDir();
    const victim = path.join(tempDir(), 'notes.txt');
    const notes = 'my important note line\n'.repeat(2000);
    await fs.writeFile(victim, notes);
    await fs.symlink(victim, path.join(dir, SEGMENT_NAME));
    const warnings: string[] = [];
    const app = outbox(dir, warnings);
    app.append([record('own')]);
    await app.persist();
    // Before, the target was read as one damaged range and "its torn tail" cut: 0 bytes left.
    expect(await drain(app)).toEqual(['own']);
    await app.close();
    expect(await fs.readFile(victim, 'utf8')).toBe(notes);
    expect((await fs.lstat(path.join(dir, SEGMENT_NAME))).isSymbolicLink()).toBe(true);
    expect(warnings.join('\n')).toContain('a symbolic link');
    const inspector = await FileOutboxInspector.open(dir);
    await inspector.size();
    expect(inspector.unreadableSegments()).toEqual([
      { file: path.join(dir, SEGMENT_NAME), error: expect.stringContaining('a symbolic link') },
    ]);
  });

  it('cutting a torn tail does not follow a symlink swapped in after the listing', async () => {
    const dir = tempDir();
    const victim = path.join(dir, 'victim.txt');
    await fs.writeFile(victim, 'keep me');
    const link = path.join(dir, SEGMENT_NAME);
    await fs.symlink(victim, link);
    await expect(cutTail(link, 0)).rejects.toMatchObject({ code: 'ELOOP' });
    expect(await fs.readFile(victim, 'utf8')).toBe('keep me');
  });

  it('a segment already indexed, swapped for a symlink while the app runs: its events counted lost, the rest delivered', async () => {
    const dir = tempDir();
    const first = outbox(dir);
    first.append([record('x1'), record('x2')]);
    await first.persist();
    await first.close();
    const warnings: string[] = [];
    const app = outbox(dir, warnings);
    const drops: Array<[string, number]> = [];
    app.onDrop((d) => drops.push([d.reason, d.count]));
    expect((await app.size()).events).toBe(2);
    const segment = readdirSync(dir).find((n) => n.endsWith('.log'))!;
    const victim = path.join(dir, 'victim.txt');
    await fs.writeFile(victim, 'keep me');
    await fs.rm(path.join(dir, segment));
    await fs.symlink(victim, path.join(dir, segment));
    app.append([record('after')]);
    await app.persist();
    // Before, the known segment stayed indexed and every claim failed (ELOOP): nothing went out.
    expect(await drain(app)).toEqual(['after']);
    expect(drops).toEqual([['corrupt', 2]]);
    expect(await fs.readFile(victim, 'utf8')).toBe('keep me');
  });

  it.skipIf(process.platform === 'win32')(
    'a FIFO: never opened, so persist, delivery, close and a status all finish',
    async () => {
      const dir = tempDir();
      const first = outbox(dir);
      first.append([record('before')]);
      await first.persist();
      await first.close();
      const fifo = path.join(dir, SEGMENT_NAME);
      execFileSync('mkfifo', ['-m', '600', fifo]);
      fifos.push(fifo);
      const warnings: string[] = [];
      const app = outbox(dir, warnings);
      app.append([record('after')]);
      // Before, the FIFO's open() blocked a pool thread for good and none of these settled.
      await within(app.persist(), 'persist()');
      expect((await within(drain(app), 'delivery')).sort()).toEqual(['after', 'before']);
      await within(app.close(), 'close()');
      expect(warnings.join('\n')).toContain('a FIFO');
      const inspector = await FileOutboxInspector.open(dir);
      await within(inspector.size(), 'a status');
      expect(inspector.unreadableSegments()).toEqual([
        { file: fifo, error: expect.stringContaining('a FIFO') },
      ]);
      expect(readdirSync(dir)).toContain(SEGMENT_NAME);
    },
  );
});
