/**
 * "At most one tab delivers from a shared browser outbox": the delivery lock of the IndexedDB
 * and localStorage outboxes. Only the holder claims; records of other tabs reach the holder
 * through the shared storage. The Web Locks API is used where it exists (the browser frees
 * the lock when the holding tab closes or crashes, so its claims become claimable at once);
 * elsewhere a lease with an expiry kept in the storage itself, renewed while held.
 */
export interface DeliveryLock {
  /** True when this outbox holds the lock now, taking it when free. Never throws. */
  acquire(): Promise<boolean>;
  /** Whether the lock was held at the last `acquire` (or renewal). */
  readonly held: boolean;
  /**
   * Let the lock go (idle or close). Never throws. `keep` is asked after the lock's own waits,
   * on the turn the lock would go: answering true keeps it (the caller became busy meanwhile,
   * e.g. a claim took a batch since it decided to let go).
   */
  release(keep?: () => boolean): Promise<void>;
}

/** The subset of `navigator.locks` used here. */
export interface LockManagerLike {
  request(
    name: string,
    options: { ifAvailable: boolean },
    callback: (lock: unknown) => Promise<unknown> | unknown,
  ): Promise<unknown>;
}

/** `navigator.locks` when the page has it, else null. */
export function defaultLockManager(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: unknown } }).navigator;
  const locks = nav?.locks as LockManagerLike | undefined;
  return locks !== undefined && locks !== null && typeof locks.request === 'function' ? locks : null;
}

export class WebLockDeliveryLock implements DeliveryLock {
  private letGo: (() => void) | undefined;
  private pending: Promise<boolean> | undefined;
  /** Settles once the browser has really freed the lock (after `letGo`). */
  private granted: Promise<unknown> = Promise.resolve();
  held = false;

  constructor(
    private readonly locks: LockManagerLike,
    private readonly name: string,
  ) {}

  acquire(): Promise<boolean> {
    if (this.held) return Promise.resolve(true);
    // Two claims at once must not both request: the second would find the first's lock taken.
    this.pending ??= new Promise<boolean>((resolve) => {
      this.granted = this.request(resolve);
    }).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private request(resolve: (held: boolean) => void): Promise<unknown> {
    try {
      return this.locks
        .request(this.name, { ifAvailable: true }, (lock) => {
          if (lock === null || lock === undefined) {
            resolve(false);
            return undefined;
          }
          this.held = true;
          resolve(true);
          // Held for as long as this promise is pending.
          return new Promise<void>((release) => {
            this.letGo = release;
          });
        })
        .catch(() => resolve(false));
    } catch {
      // An opaque origin or a sandboxed frame refuses lock requests outright.
      resolve(false);
      return Promise.resolve();
    }
  }

  async release(keep?: () => boolean): Promise<void> {
    await this.pending;
    if (keep?.() === true) return;
    this.held = false;
    const letGo = this.letGo;
    this.letGo = undefined;
    if (letGo === undefined) return;
    letGo();
    // Freed asynchronously: an acquire right after must not find our own lock still held.
    await this.granted.catch(() => undefined);
  }
}

/** Where a lease lives; `take` must be as atomic as the storage allows. */
export interface LeaseStore {
  /** Takes or renews the lease for `owner` until `expiresAtMs` unless someone else holds an unexpired one. */
  take(owner: string, nowMs: number, expiresAtMs: number): Promise<boolean>;
  /** Removes the lease if `owner` holds it. */
  drop(owner: string): Promise<void>;
}

export interface LeaseLockOptions {
  store: LeaseStore;
  owner: string;
  leaseMs: number;
  now: () => number;
}

/**
 * A lease with an expiry: a holder that dies stops renewing, and another tab takes over once it
 * expires (its claims become claimable then). Renewed by a timer while held and on `acquire`
 * past half the lease.
 */
export class LeaseDeliveryLock implements DeliveryLock {
  held = false;
  private heldUntil = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private renewing: Promise<boolean> | undefined;

  constructor(private readonly options: LeaseLockOptions) {}

  acquire(): Promise<boolean> {
    const now = this.options.now();
    if (this.held && now < this.heldUntil - this.options.leaseMs / 2) return Promise.resolve(true);
    return this.renew();
  }

  async release(keep?: () => boolean): Promise<void> {
    await this.renewing;
    if (!this.held || keep?.() === true) return;
    this.stopTimer();
    this.held = false;
    try {
      await this.options.store.drop(this.options.owner);
    } catch {
      // It expires by itself.
    }
  }

  private renew(): Promise<boolean> {
    this.renewing ??= (async () => {
      const now = this.options.now();
      let ok = false;
      try {
        ok = await this.options.store.take(this.options.owner, now, now + this.options.leaseMs);
      } catch {
        ok = false;
      }
      this.held = ok;
      if (ok) {
        this.heldUntil = now + this.options.leaseMs;
        this.startTimer();
      } else {
        this.stopTimer();
      }
      return ok;
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private startTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.renew(), Math.max(1, Math.floor(this.options.leaseMs / 3)));
    (this.timer as { unref?: () => void }).unref?.();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A random id for this outbox instance (a tab may open several). */
export function randomOwnerId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
