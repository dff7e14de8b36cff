/** Whether `value` can be an event's properties: an object, not null nor an array. */
export function isPropertiesObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
