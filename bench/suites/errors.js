// @homing/client error tracking: what captureError costs on a freshly thrown error with a
// 20-frame stack (the stack read by V8 included), with dedup on (the default: repeats of a bug
// within the window are counted) and off (every capture becomes a $exception event); and a
// correctness row: 100 000 errors of 50 distinct bugs, with volatile ids and numbers in their
// messages, must make exactly 50 groups.
import { discardingHost } from '../lib/discardingHost.js';
import { randomUUID } from 'node:crypto';
import { createErrorTracker } from '../../packages/client/dist/features/errors/index.js';
import { nsPerSyncCall } from '../lib/report.js';

export const title = '@homing/client: error capture (captureError) and grouping';
export const notes = [
  'The tracker runs on a feature host whose track() discards, so the figures are the tracker alone',
  "(the client's pipeline and outbox are measured in the client suite). Each call throws a new Error",
  'from 20 frames deep and captures it; the cost of the throw alone, measured alike, is taken away,',
  'so the figure includes reading `error.stack` (V8 formats it lazily: about half the cost). Median',
  'of 9 rounds of 4 000 calls. No competitor: posthog-node builds its exception properties',
  'asynchronously, so a per-call figure of it would not be like for like.',
  'Grouping: 10 throwing functions x 5 message templates, each message with a random id, count, hex',
  'id and quoted value; 100 000 captures in random order.',
].join('\n');

const host = discardingHost;

function deep(n, message) {
  if (n === 0) throw new Error(message);
  return deep(n - 1, message);
}

// Ten distinct throw sites (one line each, so each is its own in-app frame).
const sites = [
  (m) => { throw new Error(m); }, // prettier-ignore
  (m) => { throw new TypeError(m); }, // prettier-ignore
  (m) => { throw new RangeError(m); }, // prettier-ignore
  (m) => { throw new Error(m); }, // prettier-ignore
  (m) => { throw new SyntaxError(m); }, // prettier-ignore
  (m) => { throw new Error(m); }, // prettier-ignore
  (m) => { throw new TypeError(m); }, // prettier-ignore
  (m) => { throw new Error(m); }, // prettier-ignore
  (m) => { throw new RangeError(m); }, // prettier-ignore
  (m) => { throw new Error(m); }, // prettier-ignore
];
const templates = [
  (r) => `order ${r.n} failed for user ${r.uuid}`,
  (r) => `cannot read file /var/data/${r.n}/input.csv`,
  (r) => `request ${r.hex} timed out after ${r.n} ms`,
  (r) => `unknown plan '${r.word}'`,
  (r) => `quota exceeded: ${r.n} of ${r.n + 100} used`,
];

function randomFacts() {
  const hex = Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, '0');
  return {
    n: Math.floor(Math.random() * 1e6),
    hex,
    uuid: randomUUID(),
    word: Math.random().toString(36).slice(2, 8),
  };
}

export async function run() {
  const rows = [];
  const opts = { warmup: 2_000, batch: 4_000, rounds: 9 };
  const throwOnly = () => {
    try {
      deep(18, 'order 25 failed');
    } catch {}
  };
  for (const [label, dedupWindowMs] of [
    ['dedup on (default): a repeat is counted', undefined],
    ['dedup off: every capture becomes an event', 0],
  ]) {
    const tracker = createErrorTracker(host, dedupWindowMs === undefined ? {} : { dedupWindowMs });
    const base = nsPerSyncCall(throwOnly, opts);
    const withCapture = nsPerSyncCall(() => {
      try {
        deep(18, 'order 25 failed');
      } catch (error) {
        tracker.captureError(error, { tags: { route: '/orders/:id' } });
      }
    }, opts);
    await tracker.close();
    rows.push({
      work: `captureError, new Error thrown 20 frames deep, ${label} (µs per call)`,
      homing: Math.max(0, withCapture - base) / 1000,
      competitor: '-',
      competitorValue: null,
      unit: 'µs',
      better: 'lower',
      goal: 'reported',
    });
  }

  const tracker = createErrorTracker(host, { maxGroups: 1000 });
  for (let i = 0; i < 100_000; i++) {
    const site = sites[Math.floor(Math.random() * sites.length)];
    const template = templates[Math.floor(Math.random() * templates.length)];
    try {
      site(template(randomFacts()));
    } catch (error) {
      tracker.captureError(error);
    }
  }
  const groups = tracker.getErrorGroups();
  const counted = groups.reduce((sum, g) => sum + g.count, 0);
  await tracker.close();
  process.stderr.write(`bench: errors grouping: ${groups.length} groups, ${counted} errors counted\n`);
  rows.push({
    work: `groups from 100 000 errors of 50 distinct bugs (${counted.toLocaleString('en-US')} errors counted in them)`,
    homing: groups.length,
    competitor: '-',
    competitorValue: null,
    unit: 'groups',
    better: 'lower',
    goal: 'exactly 50',
  });
  return rows;
}
