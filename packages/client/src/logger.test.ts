import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const registerTs = here('./outbox/file-log/__fixtures__/register-ts.mjs');

describe('consoleLogger (HOMING_DEBUG=1)', () => {
  it('on Node writes every level to stderr and nothing to stdout (an MCP server speaks on stdout)', () => {
    const script = [
      `const { consoleLogger } = await import(${JSON.stringify(here('./logger.ts'))});`,
      `const log = consoleLogger();`,
      `log.debug('delivery attempt failed', { status: 503 });`,
      `log.warn('a warning');`,
      `log.error('an error');`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', registerTs, '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('[homing] delivery attempt failed');
    expect(run.stderr).toContain('[homing] a warning');
    expect(run.stderr).toContain('[homing] an error');
  });
});
