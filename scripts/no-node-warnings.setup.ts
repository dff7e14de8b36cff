// Every test file runs with this: a warning Node prints about our code (a timer past 2^31-1 ms,
// more than ten listeners on one emitter or signal) lands on the host's stderr, which a library
// that is silent by default must never do. The test during or after which it was emitted fails.
import { afterEach } from 'vitest';

const WATCHED = new Set(['MaxListenersExceededWarning', 'TimeoutOverflowWarning', 'TimeoutNegativeWarning']);
const seen: Error[] = [];
process.on('warning', (warning) => {
  if (WATCHED.has(warning.name)) seen.push(warning);
});

afterEach(async () => {
  // Node emits a warning on the next tick after the call that caused it.
  await new Promise((resolve) => setImmediate(resolve));
  if (seen.length === 0) return;
  const found = seen.splice(0);
  throw new Error(
    `Node printed ${found.length} warning(s) on stderr: ${found.map((w) => `${w.name}: ${w.message}`).join('; ')}`,
  );
});
