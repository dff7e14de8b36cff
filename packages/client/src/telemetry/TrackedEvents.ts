import { safeClone } from '../pipeline/safeSerialize.js';
import type { Session } from '../pipeline/session.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import type { TrackedEvent } from './EventBuilder.js';
import { isPropertiesObject } from './isPropertiesObject.js';
import type { PropertiesInPlace } from './PropertiesInPlace.js';
import type { ResolvedTelemetryOptions } from './resolveTelemetryOptions.js';
import type { WaitingEvents } from './WaitingEvents.js';
import type { WhoEventsAreAbout } from './WhoEventsAreAbout.js';

/**
 * What a `track()` call (or `identify()`'s `$identify`) makes of its arguments, in the app's
 * turn: the event with its properties read in place or safely cloned, its time, uuid and
 * session. A call whose properties had to be repaired is counted (`counts.fixed`).
 */
export class TrackedEvents {
  constructor(
    private readonly o: ResolvedTelemetryOptions,
    private readonly session: Session,
    private readonly inPlace: PropertiesInPlace,
    private readonly waiting: WaitingEvents,
    private readonly who: WhoEventsAreAbout,
    private readonly counts: { fixed: number },
  ) {}

  /** `name` is the checked event name; `fixed` when checking it repaired it. */
  read(
    name: string,
    fixedName: boolean,
    properties: Record<string, unknown> | undefined,
    fillAnonId: boolean,
    anonDistinctId: string | undefined,
  ): TrackedEvent {
    let fixed = fixedName;
    let props: Record<string, unknown> = {};
    let inPlace = false;
    let clean = false;
    let tooLarge = false;
    if (properties !== undefined && properties !== null) {
      try {
        if (typeof properties === 'object' && !Array.isArray(properties)) {
          // `$identify` gets `$anon_distinct_id` written into its properties: never the app's object.
          const read = this.readsInPlace(fillAnonId || anonDistinctId !== undefined, properties);
          inPlace = read !== 'no';
          clean = read === 'clean';
          if (inPlace) props = properties;
          else {
            // Stops once the JSON would be over maxEventBytes: the event is then dropped as too large.
            const clone = safeClone(properties, this.o.propertyLimits, this.o.maxEventBytes);
            if (isPropertiesObject(clone.value)) props = clone.value;
            else fixed = true; // unreadable as a whole (a Proxy whose traps throw): kept without them
            tooLarge = clone.tooLarge === true;
            // What the clone left out for the size is no repair: the event is not sent.
            if (clone.issues > 0 && !tooLarge) fixed = true;
          }
        } else fixed = true; // a string, number or array where properties belong: kept without them
      } catch {
        // A revoked Proxy, or one whose traps throw at the first look: the event, without them.
        props = {};
        inPlace = false;
        clean = false;
        fixed = true;
      }
    }
    if (fixed) this.counts.fixed++;
    const nowMs = this.o.now();
    return {
      uuid: uuidv7(nowMs),
      name,
      properties: props,
      inPlace,
      clean,
      tooLarge,
      nowMs,
      sessionId: this.session.touch(nowMs),
      anonDistinctId,
    };
  }

  /**
   * Whether `track()` may read the app's properties as they are instead of cloning them: only
   * when the event is built and stringified before `track()` returns (it will not wait for the
   * install id), nothing in the pipeline can write to it (no `custom` redactor, no `beforeSend`,
   * no key the field pass would replace, none of the keys the client sets), and the data is
   * already plain JSON within the property limits. Then the app's object is never modified and
   * changing it after the call cannot change the event.
   */
  private readsInPlace(fillAnonId: boolean, properties: object): 'no' | 'plain' | 'clean' {
    if (this.inPlace.never || fillAnonId) return 'no';
    if (
      !this.waiting.released &&
      (this.waiting.count > 0 || (this.who.identified ?? this.who.installId) === undefined)
    )
      return 'no';
    return this.inPlace.check(properties);
  }
}
