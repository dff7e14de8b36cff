// What the suites that load a server in a child process share: pinning the server to one CPU
// and the load generator to the others, and reading the child's stdout a line at a time.
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';

/** Whether `taskset` works here (Linux with util-linux, and allowed to set affinity). */
export function hasTaskset() {
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins this process (all its threads) to every CPU but `pinCpu`; answers how to undo it. '' pins nothing. */
export function pinLoadGenerator(pinCpu) {
  if (pinCpu === '') return () => {};
  const was = /: ([0-9a-f]+)\s*$/.exec(spawnSync('taskset', ['-p', String(process.pid)]).stdout.toString());
  const others = os
    .cpus()
    .map((_, i) => i)
    .filter((i) => String(i) !== pinCpu)
    .join(',');
  spawnSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' });
  return () => {
    if (was !== null) spawnSync('taskset', ['-a', '-p', was[1], String(process.pid)], { stdio: 'ignore' });
  };
}

/**
 * Starts `node <args>` (on CPU `pinCpu` unless it is '', at `nice` above 0), NODE_ENV=production,
 * stdin and stdout piped; `next()` answers its next stdout line, in order, whether it came before
 * or after the call.
 */
export function startChildServer(args, { pinCpu = '', nice = 0 } = {}) {
  const pin = pinCpu === '' ? [] : ['taskset', '-c', pinCpu];
  const niced = nice > 0 ? ['nice', '-n', String(nice)] : [];
  const [command, ...rest] = [...pin, ...niced, process.execPath, ...args];
  const child = spawn(command, rest, {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let buf = '';
  const lines = [];
  const waiters = [];
  child.stdout.on('data', (d) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const l of parts) {
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const next = () =>
    lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise((r) => waiters.push(r));
  return { child, next };
}
