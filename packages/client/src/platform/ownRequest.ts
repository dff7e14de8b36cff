/**
 * Marks the fetch calls Homing's delivery makes (on the `init` object, where fetch ignores a
 * symbol key), so the fetch breadcrumbs and timings Homing installs leave them out: each batch
 * sent would otherwise add a breadcrumb to the next error, and a timing of its own delivery.
 * `Symbol.for`, so two copies of the library in one page still recognise each other's requests.
 */
export const OWN_REQUEST: unique symbol = Symbol.for('homing.ownRequest') as never;

/** Whether a fetch `init` is one of Homing's own requests. */
export function isOwnRequest(init: unknown): boolean {
  try {
    return (
      init !== null && typeof init === 'object' && (init as Record<symbol, unknown>)[OWN_REQUEST] === true
    );
  } catch {
    return false;
  }
}
