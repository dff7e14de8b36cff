import { SEVERITIES, type ErrorGroup, type Severity } from './types.js';

/**
 * The local view of error groups (`getErrorGroups()`): one row per fingerprint, at most
 * `maxGroups`, the least recently seen evicted first so memory stays bounded however many
 * distinct errors an app produces.
 */
export class ErrorGroupTable {
  private readonly groups = new Map<string, ErrorGroup>();
  /** The most recently recorded fingerprint: already last in `groups`, no need to move it. */
  private newest: string | undefined;
  evicted = 0;

  constructor(private readonly maxGroups: number) {}

  record(fingerprint: string, type: string, message: string, severity: Severity, now: number): void {
    const g = this.groups.get(fingerprint);
    if (g !== undefined) {
      if (fingerprint !== this.newest) {
        this.groups.delete(fingerprint);
        this.groups.set(fingerprint, g);
        this.newest = fingerprint;
      }
      g.count++;
      g.lastSeen = now;
      if (SEVERITIES.indexOf(severity) > SEVERITIES.indexOf(g.severity)) g.severity = severity;
      return;
    }
    if (this.maxGroups === 0) return;
    this.newest = fingerprint;
    this.groups.set(fingerprint, {
      fingerprint,
      type,
      message,
      count: 1,
      firstSeen: now,
      lastSeen: now,
      severity,
    });
    if (this.groups.size > this.maxGroups) {
      this.groups.delete(this.groups.keys().next().value as string);
      this.evicted++;
    }
  }

  /** Copies, highest count first (ties: most recently seen first). */
  list(): ErrorGroup[] {
    return [...this.groups.values()]
      .map((g) => ({ ...g }))
      .sort((a, b) => b.count - a.count || b.lastSeen - a.lastSeen);
  }

  get size(): number {
    return this.groups.size;
  }
}
