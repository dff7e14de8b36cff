import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../../index.node.js';
import type { HomingEvent } from '../../index.node.js';

// A stack trace names files under the developer's or user's home directory in every frame; the
// pipeline's redaction replaces the user name there as it does in the message, the breadcrumbs
// and any other string, so one path reads the same wherever the event carries it.
describe('home directories in captured errors', () => {
  it('replaces the user name in frames, message and breadcrumbs alike, and keeps the rest of the path', async () => {
    const received: HomingEvent[] = [];
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
      storage: 'memory',
    });
    try {
      t.addBreadcrumb({ category: 'fs', message: 'read /Users/alice.smith/Library/app.json' });
      const error = new Error(
        "ENOENT: no such file or directory, open '/home/alice/.config/app/settings.json'",
      );
      error.stack = [
        "Error: ENOENT: no such file or directory, open '/home/alice/.config/app/settings.json'",
        '    at load (/home/alice/projects/app/src/profile.ts:10:5)',
        '    at C:\\Users\\Jane Doe\\app\\main.js:3:1',
        '    at file:///Users/alice.smith/app/cli.mjs:7:2',
        '    at run (/srv/app/node_modules/lib/index.js:1:1)',
      ].join('\n');
      t.captureError(error);
      await t.flush({ timeoutMs: 10_000 });
    } finally {
      await t.shutdown({ timeoutMs: 2_000 });
    }
    const exception = received.find((e) => e.event === '$exception')!;
    const [entry] = exception.properties['$exception_list'] as {
      value: string;
      stacktrace: { frames: { file: string | null; line: number | null; inApp: boolean }[] };
    }[];
    expect(entry!.stacktrace.frames.map((f) => f.file)).toEqual([
      '/home/[REDACTED]/projects/app/src/profile.ts',
      'C:\\Users\\[REDACTED]\\app\\main.js',
      'file:///Users/[REDACTED]/app/cli.mjs',
      '/srv/app/node_modules/lib/index.js',
    ]);
    // Lines and in-app flags were read before redaction, from the real paths.
    expect(entry!.stacktrace.frames.map((f) => [f.line, f.inApp])).toEqual([
      [10, true],
      [3, true],
      [7, true],
      [1, false],
    ]);
    const message = "ENOENT: no such file or directory, open '/home/[REDACTED]/.config/app/settings.json'";
    expect(entry!.value).toBe(message);
    expect(exception.properties['$exception_message']).toBe(message);
    expect(JSON.stringify(exception.properties['$exception_breadcrumbs'])).toContain(
      'read /Users/[REDACTED]/Library/app.json',
    );
    expect(JSON.stringify(exception)).not.toMatch(/alice|Jane Doe/);
  });
});
