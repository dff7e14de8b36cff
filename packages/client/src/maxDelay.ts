/**
 * The longest delay `setTimeout` and `setInterval` take. Past it Node prints a
 * TimeoutOverflowWarning and fires after 1 ms, which would turn an interval into a busy loop:
 * every option that becomes a timer is refused above it.
 */
export const MAX_DELAY_MS = 2_147_483_647;
