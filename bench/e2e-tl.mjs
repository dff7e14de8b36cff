import { createTelemetry } from '@homing/client';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os'; import path from 'node:path';
const host = process.argv[2]; const extra = JSON.parse(process.argv[3] ?? '{}');
const PROPS = { command: 'deploy', flags: ['--force', '--verbose'], durationMs: 1234, ok: true, version: '1.2.3', cwdHash: 'a1b2c3d4e5f6', target: { region: 'eu-west-1', replicas: 3 } };
const directory = mkdtempSync(path.join(os.tmpdir(), 'e2e-'));
const client = createTelemetry({ endpoints: [{ destination: 'homing', host, key: 'bench' }], storage: 'file', directory, distinctId: 'user-1', respectDoNotTrack: false, ...extra });
let sent = 0; const tl = [];
const t0 = performance.now(); globalThis.__t0 = t0; const cpu0 = process.cpuUsage();
client.on('sent', (e) => { sent += e.count; if (sent % 10000 === 0) tl.push(`${sent}@${Math.round(performance.now() - t0)}`); });
const turn = () => new Promise((r) => setImmediate(r));
const N = 100000; const marks = [];
for (let i = 0; i < N; i++) { client.track('cli.command', { ...PROPS, i }); if (i % 1000 === 999) { await turn(); if (i % 10000 === 9999) marks.push(`${i + 1}:${sent}@${Math.round(performance.now() - t0)}`); } }
const t1 = performance.now(); console.log("loopEndUs", String(process.hrtime.bigint() / 1000n));
await client.flush({ timeoutMs: 600000 });
const cu = process.cpuUsage(cpu0); console.log(`cpu ${Math.round((cu.user + cu.system) / 1000)} ms loop ${Math.round(t1 - t0)} ms, total ${Math.round(performance.now() - t0)} ms\n tracked:sent@ms ${marks.join(' ')}\n sent@ms ${tl.join(' ')}`);
await client.shutdown({ timeoutMs: 0 }); rmSync(directory, { recursive: true, force: true });
