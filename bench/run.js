#!/usr/bin/env node
// Runs every benchmark suite in bench/suites (or those named on the command line), prints a
// table and writes BENCHMARKS.md at the repo root. Competitors are measured in the same run,
// on the same machine, so each ratio compares like with like. Benchmarks are not tests.
//
// A run of some suites replaces only their sections in BENCHMARKS.md, so one slow suite can be
// measured again without re-running the rest; each section says when and where it was measured.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatRows, machineLine } from './lib/report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// HOMING_BENCH_OUT: another file to write (a diagnosis run that must leave BENCHMARKS.md alone).
const target = process.env.HOMING_BENCH_OUT
  ? path.resolve(process.env.HOMING_BENCH_OUT)
  : path.join(here, '..', 'BENCHMARKS.md');
const wanted = process.argv.slice(2);
const allFiles = (await readdir(path.join(here, 'suites'))).filter((f) => f.endsWith('.js')).sort();
const files = allFiles.filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)));
if (files.length === 0) {
  process.stderr.write(`bench: no suite matches ${wanted.join(', ')}; suites: ${allFiles.join(', ')}\n`);
  process.exit(1);
}

const header = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (`node --expose-gc bench/run.js [suite...]` re-measures some suites and',
  'replaces their sections). Each row measures Homing and a competitor in the same run on the same',
  'machine. Ratio is Homing relative to the competitor, stated so that above 1 means Homing is better.',
  '',
].join('\n');

/** Sections already in BENCHMARKS.md, by suite file name (kept in an HTML comment). */
async function existingSections() {
  const sections = new Map();
  let text = '';
  try {
    text = await readFile(target, 'utf8');
  } catch {
    return sections;
  }
  for (const part of text.split(/\n(?=<!-- suite: )/).slice(1)) {
    const file = /^<!-- suite: (\S+) -->/.exec(part)?.[1];
    if (file) sections.set(file, part.trimEnd());
  }
  return sections;
}

const measured = new Map();
for (const file of files) {
  const suite = await import(pathToFileURL(path.join(here, 'suites', file)).href);
  const title = suite.title ?? file;
  process.stderr.write(`bench: ${title} ...\n`);
  const started = Date.now();
  const loadAtStart = os.loadavg()[0];
  const rows = await suite.run();
  if (rows.length === 0) {
    // A suite run for a diagnosis (other sides, other tasks) answers no rows: keep its section.
    process.stderr.write(`bench: ${file} gave no rows; its section of BENCHMARKS.md is left as it was\n`);
    continue;
  }
  const table = formatRows(rows);
  process.stdout.write(`\n## ${title}\n\n${table}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  measured.set(
    file,
    [
      `<!-- suite: ${file} -->`,
      `## ${title}`,
      '',
      // Other work on the machine skews wall-clock figures; the load says how much there was.
      `Measured ${new Date().toISOString()} in ${seconds} s on ${machineLine(os)}, load average ${loadAtStart.toFixed(1)} at start.`,
      '',
      ...(suite.notes ? [suite.notes, ''] : []),
      table,
    ].join('\n'),
  );
}

// Read now, not at the start: another run of other suites may have written its sections since.
// Sections of suites that no longer exist drop out below (only files in bench/suites are kept).
const sections = await existingSections();
for (const [file, section] of measured) sections.set(file, section);
const ordered = allFiles.filter((f) => sections.has(f)).map((f) => sections.get(f));
await writeFile(target, `${header}\n${ordered.join('\n\n')}\n`);
process.stderr.write(
  `bench: wrote ${measured.size} suite(s) into ${path.relative(process.cwd(), target) || target}\n`,
);
