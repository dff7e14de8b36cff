import { safeClone, type SafeLimits } from '../pipeline/safeSerialize.js';
import type { SuperState, TrackedEvent } from './EventBuilder.js';
import { isPropertiesObject } from './isPropertiesObject.js';

/** Events tracked before the install id is read are held in memory, at most this many. */
export const MAX_WAITING_EVENTS = 10_000;

/** An event waiting for the install id: `distinctId` undefined means "the install id". */
export interface Waiting {
  readonly tracked: TrackedEvent;
  readonly distinctId: string | undefined;
  /** Set when it waits: the super properties of its `track` call, not of the time it is built. */
  supers?: SuperState;
  /** `$identify` before the install id was known: its `$anon_distinct_id` is filled in then. */
  readonly fillAnonId?: boolean;
}

/**
 * The events held in memory until the install id (and the remembered consent) is known, in the
 * order they were tracked. Once released, events are appended as they are tracked; it holds
 * again when the install id is made later (`reopen`).
 */
export class WaitingEvents {
  /** null once released. */
  private list: Waiting[] | null = [];

  /** Events are appended as tracked: none wait. */
  get released(): boolean {
    return this.list === null;
  }

  /** How many wait (0 once released). */
  get count(): number {
    return this.list === null ? 0 : this.list.length;
  }

  /**
   * Holds `w` with the super properties of its `track` call (`builder.superState`, read now);
   * false when `MAX_WAITING_EVENTS` wait already (the event is then dropped). Call only while
   * not released.
   */
  hold(w: Waiting, builder: { readonly superState: SuperState }, limits: SafeLimits): boolean {
    const list = this.list!;
    if (list.length >= MAX_WAITING_EVENTS) return false;
    const waiting = w.tracked.inPlace === true ? { ...w, tracked: detached(w.tracked, limits) } : w;
    waiting.supers = builder.superState;
    list.push(waiting);
    return true;
  }

  /** Forgets the events waiting (they were dropped); still holding if it was. */
  empty(): void {
    if (this.list !== null) this.list = [];
  }

  /** The events that waited, in order; from now on none wait. */
  release(): Waiting[] {
    const waiting = this.list ?? [];
    this.list = null;
    return waiting;
  }

  /** Holds events again (the install id is being made after all). */
  reopen(): void {
    this.list ??= [];
  }
}

/**
 * An event read in place that is going to wait after all (a remembered consent or a kept
 * identity still being read): its own copy of the properties, read like any other. The app
 * may change or reuse its object once `track()` returns, and the in-place reading let only
 * the pattern pass run on it, on the strength of a walk of what the object held then.
 */
function detached(tracked: TrackedEvent, limits: SafeLimits): TrackedEvent {
  const { value } = safeClone(tracked.properties, limits);
  return {
    ...tracked,
    properties: isPropertiesObject(value) ? value : {},
    inPlace: false,
    clean: false,
  };
}
