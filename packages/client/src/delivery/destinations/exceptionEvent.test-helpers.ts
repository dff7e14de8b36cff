import type { HomingEvent } from '../../event.js';

/** A `$exception` event in Homing's own shape, one error with `frames` (innermost first). */
export function exceptionEvent(
  frames: ReadonlyArray<{
    file: string;
    line: number;
    column: number;
    function: string | null;
    inApp: boolean;
  }>,
  handled: boolean,
): HomingEvent {
  return {
    uuid: '01900000-0000-7000-8000-000000000001',
    event: '$exception',
    distinct_id: 'd',
    timestamp: new Date().toISOString(),
    properties: {
      $exception_handled: handled,
      $exception_list: [
        {
          type: 'Error',
          value: 'x',
          mechanism: { type: 'generic', synthetic: false, exception_id: 0 },
          stacktrace: { type: 'parsed', frames },
        },
      ],
    },
  };
}
