import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { INSTALL_ID_FILE } from './installIdFile.node.js';

const THREADS = 6;
const ROUNDS = 150;
const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-install-id-race-'));
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  rmSync(dir, { recursive: true, force: true });
});

type Answer = { round: number; id?: string; error?: string };

describe('the install id file, damaged, read by threads starting at the same moment', () => {
  it('gives every one of them the one id the file then holds', async () => {
    const go = new Int32Array(new SharedArrayBuffer(4));
    const answers = new Map<number, Answer[]>();
    const waiting = new Map<number, number>();
    let wake: () => void = () => {};
    for (let i = 0; i < THREADS; i++) {
      const worker = new Worker(new URL('./__fixtures__/install-id-worker.mjs', import.meta.url), {
        workerData: { go: go.buffer },
      });
      workers.push(worker);
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      worker.on('message', (m: Answer & { waiting?: number }) => {
        if (m.waiting !== undefined) waiting.set(m.waiting, (waiting.get(m.waiting) ?? 0) + 1);
        else answers.set(m.round, [...(answers.get(m.round) ?? []), m]);
        wake();
      });
    }
    const until = (done: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        wake = () => done() && resolve();
        wake();
      });
    const split: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const directory = path.join(dir, `r${round}`);
      mkdirSync(directory, { mode: 0o700 });
      // Half of them reach it through a symbolic link, as through a linked home directory.
      const link = `${directory}-link`;
      symlinkSync(directory, link);
      writeFileSync(path.join(directory, INSTALL_ID_FILE), 'garbage\n', { mode: 0o600 });
      workers.forEach((worker, i) =>
        worker.postMessage({ directory: i % 2 === 0 ? directory : link, round }),
      );
      await until(() => waiting.get(round) === THREADS);
      Atomics.store(go, 0, round);
      Atomics.notify(go, 0);
      await until(() => answers.get(round)?.length === THREADS);
      const got = answers.get(round)!;
      expect(got.filter((a) => a.error !== undefined)).toEqual([]);
      const ids = new Set(got.map((a) => a.id));
      const kept = readFileSync(path.join(directory, INSTALL_ID_FILE), 'utf8').trim();
      if (ids.size !== 1 || !ids.has(kept)) split.push(`round ${round}: ${[...ids].join(' ')}, file ${kept}`);
      // Nothing left behind: the temporary files are gone.
      expect(readdirSync(directory)).toEqual([INSTALL_ID_FILE]);
    }
    expect(split).toEqual([]);
  }, 120_000);
});
