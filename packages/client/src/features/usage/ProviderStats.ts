import { LogLinearHistogram } from '../performance/LogLinearHistogram.js';
import type { HistogramSummary } from '../performance/LogLinearHistogram.js';
import type { UsageContext } from './usageContext.js';
import { isCount, isName } from './usageContext.js';

export interface ProviderSummary {
  requests: number;
  successes: number;
  failures: number;
  /** successes / requests. */
  successRate: number;
  tokens: number;
  /** Latency of every request, ms (p50..p99 within 0.79 %). */
  latency: HistogramSummary;
}

interface Provider {
  requests: number;
  successes: number;
  tokens: number;
  latency: LogLinearHistogram;
}

/** Requests to AI (or any) providers: per provider success rate, tokens and latency percentiles. */
export class ProviderStats {
  readonly #providers = new Map<string, Provider>();
  readonly #ctx: UsageContext;

  constructor(context: UsageContext) {
    this.#ctx = context;
  }

  track(provider: unknown, latencyMs: unknown, success: unknown, tokens?: unknown): boolean {
    const { settings } = this.#ctx;
    if (!isName(provider, settings.maxNameLength)) {
      this.#ctx.reject('provider', 'provider must be a non-empty string');
      return false;
    }
    if (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs <= Number.MAX_SAFE_INTEGER)) {
      this.#ctx.reject('latency', 'latencyMs must be a finite number >= 0');
      return false;
    }
    if (typeof success !== 'boolean') {
      this.#ctx.reject('provider', 'success must be a boolean');
      return false;
    }
    if (!isCount(tokens)) {
      this.#ctx.reject('tokens', 'tokens must be a finite number >= 0');
      return false;
    }
    const key =
      this.#providers.has(provider) || this.#providers.size < settings.maxProviders ? provider : '$other';
    let entry = this.#providers.get(key);
    if (entry === undefined) {
      entry = { requests: 0, successes: 0, tokens: 0, latency: new LogLinearHistogram() };
      this.#providers.set(key, entry);
    }
    entry.requests++;
    if (success) entry.successes++;
    entry.tokens += tokens ?? 0;
    entry.latency.record(latencyMs);
    this.#ctx.emit('$provider_request', {
      provider,
      latency_ms: latencyMs,
      success,
      ...(tokens === undefined ? {} : { tokens }),
    });
    return true;
  }

  stats(): Record<string, ProviderSummary> {
    const out: Record<string, ProviderSummary> = {};
    for (const [name, p] of this.#providers) {
      Object.defineProperty(out, name, {
        value: {
          requests: p.requests,
          successes: p.successes,
          failures: p.requests - p.successes,
          successRate: p.successes / p.requests,
          tokens: p.tokens,
          latency: p.latency.summary(),
        },
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
}
