/** The longest delay a timer takes: past it Node warns (TimeoutOverflowWarning) and fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;
