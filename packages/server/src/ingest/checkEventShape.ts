export interface ShapeLimits {
  /** Largest JSON size of one event, characters. */
  maxEventBytes: number;
  /** Deepest nesting inside an event's properties (the properties object itself is level 1). */
  maxPropertiesDepth: number;
}

const TOO_DEEP = Symbol('too deep');
const TOO_LARGE = Symbol('too large');

/**
 * Walks one event once and answers why it is refused (nested too deeply, too large), or null.
 * The size is the event's JSON length in characters, counted without escapes: a close lower
 * bound that costs no serialisation. A refused event is named per index; its batch goes on.
 */
export function checkEventShape(event: unknown, limits: ShapeLimits): string | null {
  // The event object is level 0, its properties level 1.
  const maxDepth = limits.maxPropertiesDepth;
  const maxSize = limits.maxEventBytes;
  let size = 0;
  const walk = (v: unknown, depth: number): void => {
    if (typeof v === 'string') {
      size += v.length + 2;
    } else if (typeof v !== 'object' || v === null) {
      size += 5;
    } else {
      if (depth > maxDepth) throw TOO_DEEP;
      size += 2;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          walk(v[i], depth + 1);
          size += 1;
        }
      } else {
        for (const k in v) {
          size += k.length + 4;
          walk((v as Record<string, unknown>)[k], depth + 1);
        }
      }
    }
    if (size > maxSize) throw TOO_LARGE;
  };
  try {
    walk(event, 0);
    return null;
  } catch (err) {
    if (err === TOO_DEEP) return `properties nested deeper than ${maxDepth} levels`;
    if (err === TOO_LARGE) return `event larger than ${maxSize} characters of JSON`;
    throw err;
  }
}
