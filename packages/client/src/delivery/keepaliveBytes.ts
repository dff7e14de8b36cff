/**
 * Chromium allows a page (a fetch group) at most 64 KiB of keepalive request bodies in flight
 * at once, `sendBeacon` included, and rejects a request over what is left ("Failed to fetch").
 * An unload send of a full budget while an earlier one is still on its way (a tab hidden, shown
 * and hidden again; the app tracking in its own `pagehide` listener after ours ran) was refused,
 * and its events waited for the next visit. So the unload sends of a page count what they have
 * in flight and size the next one to what is left.
 *
 * A beacon's outcome is never known: its bytes count as in flight for `BEACON_IN_FLIGHT_MS`,
 * long enough for a request to a healthy server to complete. A later unload send in that window
 * is smaller than it could be (its events wait in the outbox for the next send); past it, one
 * to a slow server can still be refused, with the same outcome.
 */
export const BEACON_IN_FLIGHT_MS = 5_000;

export class KeepaliveBytes {
  private fetching = 0;
  private readonly beacons: Array<{ bytes: number; untilMs: number }> = [];

  /** Bytes of keepalive bodies this page has in flight now. */
  inFlight(nowMs: number): number {
    let bytes = this.fetching;
    for (let i = this.beacons.length - 1; i >= 0; i--) {
      const beacon = this.beacons[i]!;
      if (beacon.untilMs <= nowMs) this.beacons.splice(i, 1);
      else bytes += beacon.bytes;
    }
    return bytes;
  }

  /** A keepalive fetch of `bytes` went out: in flight until `settled` settles either way. */
  addFetch(bytes: number, settled: Promise<unknown>): void {
    this.fetching += bytes;
    const done = (): void => {
      this.fetching -= bytes;
    };
    settled.then(done, done);
  }

  /** A beacon (or a keepalive fetch whose end is not seen) of `bytes` went out at `nowMs`. */
  addBeacon(bytes: number, nowMs: number): void {
    this.beacons.push({ bytes, untilMs: nowMs + BEACON_IN_FLIGHT_MS });
  }
}

/** The page's: every client of one bundle in a page shares the browser's quota. */
export const pageKeepaliveBytes = new KeepaliveBytes();
