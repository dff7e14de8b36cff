export interface ShapeLimits {
  /** Largest size of one event, UTF-8 bytes of its JSON (counted without escapes). */
  maxEventBytes: number;
  /** Deepest nesting inside an event's properties (the properties object itself is level 1). */
  maxPropertiesDepth: number;
}

const TOO_DEEP = Symbol('too deep');

/** The reason an event over `maxEventBytes` is refused; routes compare with it to answer 413. */
export function eventTooLargeReason(maxEventBytes: number): string {
  return `event larger than ${maxEventBytes} bytes of JSON (UTF-8)`;
}
const TOO_LARGE = Symbol('too large');

/**
 * Walks one event and answers why it is refused (nested too deeply, too large), or null. The
 * size is the event's JSON length in UTF-8 bytes, counted without escapes: a close lower bound
 * that costs no serialisation. A first walk counts UTF-16 code units, a lower bound of the bytes
 * (each unit is 1 to 3 bytes), so it settles every event under a third of the limit without
 * measuring a string's bytes; only a larger event is walked again, counting bytes. A refused
 * event is named per index; its batch goes on.
 */
export function checkEventShape(event: unknown, limits: ShapeLimits): string | null {
  // The event object is level 0, its properties level 1.
  const maxDepth = limits.maxPropertiesDepth;
  const maxSize = limits.maxEventBytes;
  let size = 0;
  const walk = (v: unknown, depth: number, bytes: boolean): void => {
    if (typeof v === 'string') {
      size += (bytes ? Buffer.byteLength(v, 'utf8') : v.length) + 2;
    } else if (typeof v !== 'object' || v === null) {
      size += 5;
    } else {
      if (depth > maxDepth) throw TOO_DEEP;
      size += 2;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          walk(v[i], depth + 1, bytes);
          size += 1;
        }
      } else {
        for (const k in v) {
          size += (bytes ? Buffer.byteLength(k, 'utf8') : k.length) + 4;
          walk((v as Record<string, unknown>)[k], depth + 1, bytes);
        }
      }
    }
    if (size > maxSize) throw TOO_LARGE;
  };
  try {
    walk(event, 0, false);
    if (size * 3 > maxSize) {
      size = 0;
      walk(event, 0, true);
    }
    return null;
  } catch (err) {
    if (err === TOO_DEEP) return `properties nested deeper than ${maxDepth} levels`;
    if (err === TOO_LARGE) return eventTooLargeReason(maxSize);
    throw err;
  }
}
