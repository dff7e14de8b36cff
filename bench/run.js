#!/usr/bin/env node
// Runs every benchmark suite in bench/suites (or those named on the command line), prints a
// table and writes BENCHMARKS.md at the repo root. Competitors are measured in the same run,
// on the same machine, so each ratio compares like with like. Benchmarks are not tests.
import { readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatRows, machineLine } from './lib/report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = (await readdir(path.join(here, 'suites')))
  .filter((f) => f.endsWith('.js'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();

const sections = [];
for (const file of files) {
  const suite = await import(pathToFileURL(path.join(here, 'suites', file)).href);
  process.stderr.write(`bench: ${suite.title ?? file} ...\n`);
  const started = Date.now();
  const rows = await suite.run();
  const table = formatRows(rows);
  process.stdout.write(`\n## ${suite.title ?? file}\n\n${table}\n`);
  sections.push({
    title: suite.title ?? file,
    notes: suite.notes ?? '',
    table,
    seconds: (Date.now() - started) / 1000,
  });
}

const doc = [
  '# Benchmarks',
  '',
  'Written by `npm run bench`. Each row measures Homing and a competitor in the same run on the same machine.',
  'Ratio is Homing relative to the competitor, stated so that above 1 means Homing is better.',
  '',
  `Machine: ${machineLine(os)}`,
  `Run at: ${new Date().toISOString()}`,
  '',
  ...sections.flatMap((s) => [`## ${s.title}`, '', ...(s.notes ? [s.notes, ''] : []), s.table, '']),
].join('\n');

if (wanted.length === 0) {
  await writeFile(path.join(here, '..', 'BENCHMARKS.md'), doc);
  process.stderr.write('bench: wrote BENCHMARKS.md\n');
} else {
  process.stderr.write('bench: a subset ran, BENCHMARKS.md left as it was\n');
}
