import { describe, expect, it } from 'vitest';
import { capturingClient } from '../../telemetry/telemetry.test-helpers.js';
import { exceptionEvent } from './exceptionEvent.test-helpers.js';
import { postHogExceptionRecord as postHogRecord } from './postHogException.js';

function boom(): never {
  throw new TypeError('export 42 failed', { cause: new Error('disk full') });
}

describe('postHogRecord: $exception in the shape PostHog error tracking reads', () => {
  it('gives raw stacks with Sentry-style frames, crashing frame last, and mechanism.handled; other events go as they are', async () => {
    const { client, received } = capturingClient({ errors: { captureUnhandled: false } });
    try {
      boom();
    } catch (error) {
      client.captureError(error);
    }
    client.track('plain', { $exception_list: 'not an exception event' });
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    const [exception, plain] = received;
    const record = (event: unknown) => ({ uuid: 'u', json: JSON.stringify(event), timestampMs: 0 });

    const homing = exception!.properties.$exception_list as Array<{
      stacktrace: {
        frames: Array<{ file: string; line: number; column: number; function: string; inApp: boolean }>;
      };
    }>;
    const mapped = JSON.parse(postHogRecord(record(exception)).json) as {
      event: string;
      properties: { $exception_list: Array<Record<string, unknown>> };
    };
    expect(mapped.event).toBe('$exception');
    const [first, cause] = mapped.properties.$exception_list;
    expect(first).toMatchObject({
      type: 'TypeError',
      value: 'export 42 failed',
      mechanism: { handled: true },
    });
    expect(cause).toMatchObject({
      type: 'Error',
      value: 'disk full',
      mechanism: { handled: true, type: 'cause' },
    });
    const frames = (first!.stacktrace as { type: string; frames: Array<Record<string, unknown>> }).frames;
    expect((first!.stacktrace as { type: string }).type).toBe('raw');
    const innermost = homing[0]!.stacktrace.frames[0]!;
    // Outermost first: the frame that threw is last.
    expect(frames.at(-1)).toEqual({
      platform: 'node:javascript',
      filename: innermost.file,
      function: innermost.function,
      lineno: innermost.line,
      colno: innermost.column,
      in_app: innermost.inApp,
    });
    expect(frames.at(-1)!.function).toBe('boom');
    expect(frames).toHaveLength(homing[0]!.stacktrace.frames.length);
    // Not an exception event, or not readable: unchanged.
    const plainRecord = record(plain);
    expect(postHogRecord(plainRecord)).toBe(plainRecord);
    const broken = {
      uuid: 'u',
      json: '{"event":"$exception","properties":{"$exception_list":',
      timestampMs: 0,
    };
    expect(postHogRecord(broken)).toBe(broken);
  });

  it('an automatic capture is sent unhandled, and a browser stack gets the web platform', () => {
    const event = exceptionEvent(
      [{ file: 'https://app.example.com/main.js', line: 1, column: 2, function: null, inApp: true }],
      false,
    );
    const mapped = JSON.parse(
      postHogRecord({ uuid: 'u', json: JSON.stringify(event), timestampMs: 0 }).json,
    ) as {
      properties: {
        $exception_list: Array<{ mechanism: { handled: boolean }; stacktrace: { frames: unknown[] } }>;
      };
    };
    const [entry] = mapped.properties.$exception_list;
    expect(entry!.mechanism.handled).toBe(false);
    expect(entry!.stacktrace.frames).toEqual([
      {
        platform: 'web:javascript',
        filename: 'https://app.example.com/main.js',
        lineno: 1,
        colno: 2,
        in_app: true,
      },
    ]);
  });
});
