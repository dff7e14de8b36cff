// Shared helpers for benchmark suites: timing loops and the table format.

/** A row: { work, homing, competitor, competitorValue, unit, better: 'lower' | 'higher', goal? } */
export function formatRows(rows) {
  const head = '| work | Homing | competitor | competitor figure | ratio (Homing better by) | goal |';
  const sep = '| --- | --- | --- | --- | --- | --- |';
  const lines = rows.map((r) => {
    const ratio = ratioOf(r);
    const fmt = (v) => (v === null || v === undefined ? 'n/a' : `${formatNumber(v)} ${r.unit}`);
    return `| ${r.work} | ${fmt(r.homing)} | ${r.competitor ?? '-'} | ${fmt(r.competitorValue)} | ${ratio === null ? '-' : `${ratio.toFixed(2)}x`} | ${r.goal ?? ''} |`;
  });
  return [head, sep, ...lines].join('\n');
}

export function ratioOf(r) {
  if (r.competitorValue === null || r.competitorValue === undefined || !r.homing) return null;
  return r.better === 'lower' ? r.competitorValue / r.homing : r.homing / r.competitorValue;
}

export function formatNumber(v) {
  if (typeof v !== 'number') return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toPrecision(3);
}

export function machineLine(os) {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`;
}

/**
 * Measures an async operation: runs it `warmup` times, then in rounds until `minMs` has passed,
 * and answers the median nanoseconds per call over the rounds.
 */
export async function nsPerCall(fn, { warmup = 20_000, batch = 10_000, rounds = 15 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Same as nsPerCall for a synchronous function. */
export function nsPerSyncCall(fn, { warmup = 50_000, batch = 100_000, rounds = 15 } = {}) {
  for (let i = 0; i < warmup; i++) fn(i);
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn(i);
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}
