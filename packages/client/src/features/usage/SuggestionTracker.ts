import { LogLinearHistogram } from '../performance/LogLinearHistogram.js';
import type { HistogramSummary } from '../performance/LogLinearHistogram.js';
import type { UsageContext } from './usageContext.js';
import { isName } from './usageContext.js';

export interface SuggestionCounts {
  shown: number;
  accepted: number;
  dismissed: number;
  /** Neither accepted nor dismissed within suggestionTimeoutMs (or pushed out by the pending bound). */
  expired: number;
  /** accepted / (accepted + dismissed + expired); null until one is decided. */
  acceptanceRate: number | null;
}

export interface SuggestionStats extends SuggestionCounts {
  pending: number;
  /** From shown to accepted, ms. */
  timeToAccept: HistogramSummary;
  byKind: Record<string, SuggestionCounts>;
}

interface Pending {
  readonly id: string;
  readonly kind: string;
  readonly shownAt: number;
}

type Counts = Omit<SuggestionCounts, 'acceptanceRate'>;

const MAX_KINDS = 50;

/** Proactive suggestions: shown, then accepted, dismissed or expired; acceptance rate and time to accept. */
export class SuggestionTracker {
  /** Oldest first. */
  readonly #pending = new Map<string, Pending>();
  readonly #ctx: UsageContext;
  readonly #total: Counts = { shown: 0, accepted: 0, dismissed: 0, expired: 0 };
  readonly #byKind = new Map<string, Counts>();
  readonly #timeToAccept = new LogLinearHistogram();

  constructor(context: UsageContext) {
    this.#ctx = context;
  }

  shown(id: unknown, kind: unknown = 'default'): boolean {
    const { settings } = this.#ctx;
    if (!isName(id, settings.maxNameLength) || !isName(kind, settings.maxNameLength)) {
      this.#ctx.reject('suggestion', 'a suggestion needs a string id and kind');
      return false;
    }
    if (this.#pending.has(id)) {
      this.#ctx.reject('suggestion', 'that suggestion is already shown and pending');
      return false;
    }
    const now = this.#ctx.now();
    this.sweep(now);
    while (this.#pending.size >= settings.maxPendingSuggestions) {
      this.#expire(this.#pending.values().next().value!, now);
    }
    const kindKey = this.#byKind.has(kind) || this.#byKind.size < MAX_KINDS ? kind : '$other';
    this.#pending.set(id, { id, kind: kindKey, shownAt: now });
    this.#count(kindKey, 'shown');
    this.#ctx.emit('$suggestion_shown', { suggestion_id: id, kind });
    return true;
  }

  accepted(id: unknown): boolean {
    return this.#decide(id, 'accepted');
  }

  dismissed(id: unknown): boolean {
    return this.#decide(id, 'dismissed');
  }

  /** Expires every suggestion pending for suggestionTimeoutMs. */
  sweep(now: number): void {
    const timeout = this.#ctx.settings.suggestionTimeoutMs;
    for (const pending of this.#pending.values()) {
      if (now - pending.shownAt < timeout) break;
      this.#expire(pending, now);
    }
  }

  stats(): SuggestionStats {
    const byKind: Record<string, SuggestionCounts> = {};
    for (const [kind, counts] of this.#byKind) {
      Object.defineProperty(byKind, kind, {
        value: withRate(counts),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return {
      ...withRate(this.#total),
      pending: this.#pending.size,
      timeToAccept: this.#timeToAccept.summary(),
      byKind,
    };
  }

  #decide(id: unknown, decision: 'accepted' | 'dismissed'): boolean {
    const now = this.#ctx.now();
    this.sweep(now);
    const pending = typeof id === 'string' ? this.#pending.get(id) : undefined;
    if (pending === undefined) {
      this.#ctx.reject(
        'suggestion',
        'no pending suggestion with that id (never shown, already decided or expired)',
      );
      return false;
    }
    this.#pending.delete(pending.id);
    const elapsed = Math.max(0, now - pending.shownAt);
    this.#count(pending.kind, decision);
    if (decision === 'accepted') this.#timeToAccept.record(elapsed);
    this.#ctx.emit(`$suggestion_${decision}`, {
      suggestion_id: pending.id,
      kind: pending.kind,
      [decision === 'accepted' ? 'time_to_accept_ms' : 'time_to_dismiss_ms']: elapsed,
    });
    return true;
  }

  #expire(pending: Pending, now: number): void {
    this.#pending.delete(pending.id);
    this.#count(pending.kind, 'expired');
    this.#ctx.emit('$suggestion_expired', {
      suggestion_id: pending.id,
      kind: pending.kind,
      shown_ms: Math.max(0, now - pending.shownAt),
    });
  }

  #count(kind: string, field: keyof Counts): void {
    this.#total[field]++;
    let counts = this.#byKind.get(kind);
    if (counts === undefined) {
      counts = { shown: 0, accepted: 0, dismissed: 0, expired: 0 };
      this.#byKind.set(kind, counts);
    }
    counts[field]++;
  }
}

function withRate(c: Counts): SuggestionCounts {
  const decided = c.accepted + c.dismissed + c.expired;
  return { ...c, acceptanceRate: decided === 0 ? null : c.accepted / decided };
}
