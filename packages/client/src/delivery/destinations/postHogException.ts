import type { OutboxRecord } from '../../outbox/outbox.js';
import { rewriteEvent } from './rewriteEvent.js';

/**
 * A `$exception` event as PostHog's error tracking reads it. Homing's own `$exception_list`
 * gives each stack as `{ frames: [{ file, line, column, function, inApp }] }`, innermost frame
 * first; PostHog's processor takes only `{ type: 'raw', frames: [{ filename, lineno, colno,
 * function, in_app, platform }] }` with the crashing frame last (as posthog-node sends it) and
 * reads `mechanism.handled`. Sent as Homing's, the event was stored but never grouped into an
 * issue. Every other event, and one this cannot read, goes as it is.
 */
export function postHogExceptionRecord(record: OutboxRecord): OutboxRecord {
  // Cheap enough for every record: only an exception goes on to be parsed.
  if (!record.json.includes('"$exception_list"')) return record;
  return rewriteEvent(record, (event, properties) => {
    const list = properties.$exception_list;
    if (event.event !== '$exception' || !Array.isArray(list)) return false;
    const handled = properties.$exception_handled !== false;
    properties.$exception_list = list.map((entry) => postHogException(entry, handled));
    return true;
  });
}

function postHogException(entry: unknown, handled: boolean): unknown {
  if (entry === null || typeof entry !== 'object') return entry;
  const e = entry as { stacktrace?: { frames?: unknown }; mechanism?: unknown };
  const frames = Array.isArray(e.stacktrace?.frames) ? (e.stacktrace.frames as unknown[]) : [];
  const platform = frames.some((f) => /^https?:/.test(String((f as { file?: unknown } | null)?.file ?? '')))
    ? 'web:javascript'
    : 'node:javascript';
  const mechanism = e.mechanism !== null && typeof e.mechanism === 'object' ? e.mechanism : {};
  return {
    ...e,
    mechanism: { ...mechanism, handled },
    stacktrace: {
      type: 'raw',
      frames: frames
        .slice()
        .reverse()
        .map((f) => postHogFrame(f, platform)),
    },
  };
}

function postHogFrame(frame: unknown, platform: string): unknown {
  if (frame === null || typeof frame !== 'object') return frame;
  const f = frame as {
    file?: unknown;
    line?: unknown;
    column?: unknown;
    function?: unknown;
    inApp?: unknown;
  };
  const out: Record<string, unknown> = { platform };
  if (typeof f.file === 'string') out.filename = f.file;
  if (typeof f.function === 'string') out.function = f.function;
  if (typeof f.line === 'number') out.lineno = f.line;
  if (typeof f.column === 'number') out.colno = f.column;
  out.in_app = f.inApp === true;
  return out;
}
