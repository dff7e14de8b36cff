/**
 * The `$homing_delivery` properties: the stats as the host gives them, plus `delta`, how much
 * each counter (a number at the top level or one level down, e.g. `dropped.overflow`) grew since
 * the last report, so a server can add reports up without knowing when a process restarted.
 */
export function deliveryReport(
  current: Record<string, unknown>,
  previous: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(current)) {
    const before = previous?.[key];
    if (typeof value === 'number' && Number.isFinite(value)) {
      delta[key] = value - (typeof before === 'number' && Number.isFinite(before) ? before : 0);
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const inner: Record<string, number> = {};
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const b =
          before !== null && typeof before === 'object' ? (before as Record<string, unknown>)[k] : undefined;
        inner[k] = v - (typeof b === 'number' && Number.isFinite(b) ? b : 0);
      }
      if (Object.keys(inner).length > 0) delta[key] = inner;
    }
  }
  return { ...current, delta };
}
