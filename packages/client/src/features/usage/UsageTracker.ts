import type { Feature, FeatureHost } from '../feature.js';
import { checkHost } from '../performance/validateOption.js';
import { ConversationTracker } from './ConversationTracker.js';
import type { ConversationMessage, ConversationOutcome, ConversationStats } from './ConversationTracker.js';
import { UsageOptionError } from './errors.js';
import { FeatureAdoption } from './FeatureAdoption.js';
import type { FeatureAdoptionStats } from './FeatureAdoption.js';
import { ProviderStats } from './ProviderStats.js';
import type { ProviderSummary } from './ProviderStats.js';
import { SuggestionTracker } from './SuggestionTracker.js';
import type { SuggestionStats } from './SuggestionTracker.js';
import type { UsageContext, UsageRejectReason } from './usageContext.js';
import { usageSettings } from './usageOptions.js';
import type { UsageOptions, UsageSettings } from './usageOptions.js';

export interface UsageStats {
  /** Calls refused, by reason (bad ids, names, props, latencies, tokens; unknown conversations or suggestions). */
  rejected: Record<UsageRejectReason, number>;
  /** Uses of features past maxFeatures: their events were sent, without local stats. */
  untrackedFeatureUses: number;
}

/**
 * Usage analytics (design 003): feature adoption, conversations, provider requests and proactive
 * suggestions. Every call sends an event with its facts (`$feature_used`, `$conversation_*`,
 * `$provider_request`, `$suggestion_*`) and keeps bounded local stats for the getters. Calls never
 * throw: bad input answers false/undefined and is counted.
 */
export class UsageTracker implements Feature {
  readonly #host: FeatureHost;
  readonly #settings: UsageSettings;
  readonly #features: FeatureAdoption;
  readonly #conversations: ConversationTracker;
  readonly #providers: ProviderStats;
  readonly #suggestions: SuggestionTracker;
  readonly #rejected: Record<UsageRejectReason, number> = {
    feature: 0,
    action: 0,
    props: 0,
    conversation: 0,
    message: 0,
    provider: 0,
    latency: 0,
    tokens: 0,
    suggestion: 0,
  };
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(host: FeatureHost, options: UsageOptions = {}) {
    checkHost(host, (option, reason) => new UsageOptionError(option, reason));
    this.#host = host;
    this.#settings = usageSettings(options);
    const context: UsageContext = {
      settings: this.#settings,
      now: () => host.now(),
      emit: (event, properties) => {
        try {
          host.track(event, properties);
        } catch (error) {
          host.logger.debug('usage: host.track threw', { error: String(error) });
        }
      },
      reject: (reason, detail) => {
        if (this.#rejected[reason]++ === 0) {
          host.logger.debug(`usage: call rejected (${reason}); further ones are only counted`, { detail });
        }
      },
    };
    this.#features = new FeatureAdoption(context);
    this.#conversations = new ConversationTracker(context);
    this.#providers = new ProviderStats(context);
    this.#suggestions = new SuggestionTracker(context);
    if (this.#settings.sweepIntervalMs > 0) {
      this.#timer = setInterval(() => this.sweep(), this.#settings.sweepIntervalMs);
      (this.#timer as any).unref?.();
    }
  }

  /** A use of a feature; `props.userId` (or the `userId` option) counts distinct users. */
  trackFeature(featureId: string, action: string, props?: Record<string, unknown>): boolean {
    return this.#call('trackFeature', false, () => this.#features.track(featureId, action, props));
  }

  /** Opens a conversation (a UUIDv7 id when none is given) and answers its id. */
  startConversation(id?: string, meta?: Record<string, unknown>): string | undefined {
    return this.#call('startConversation', undefined, () => this.#conversations.start(id, meta));
  }

  trackMessage(conversationId: string, message: ConversationMessage): boolean {
    return this.#call('trackMessage', false, () => this.#conversations.message(conversationId, message));
  }

  endConversation(conversationId: string, outcome?: ConversationOutcome): boolean {
    return this.#call('endConversation', false, () => this.#conversations.end(conversationId, outcome));
  }

  trackProviderRequest(provider: string, latencyMs: number, success: boolean, tokens?: number): boolean {
    return this.#call('trackProviderRequest', false, () =>
      this.#providers.track(provider, latencyMs, success, tokens),
    );
  }

  suggestionShown(id: string, kind?: string): boolean {
    return this.#call('suggestionShown', false, () => this.#suggestions.shown(id, kind));
  }

  suggestionAccepted(id: string): boolean {
    return this.#call('suggestionAccepted', false, () => this.#suggestions.accepted(id));
  }

  suggestionDismissed(id: string): boolean {
    return this.#call('suggestionDismissed', false, () => this.#suggestions.dismissed(id));
  }

  /**
   * Runs one public call: ignored after close, and never throwing into the app. Bad input is
   * rejected (and counted) inside; what still throws is a failure of Homing's, logged.
   */
  #call<T>(method: string, ignored: T, run: () => T): T {
    if (this.#closed) return ignored;
    try {
      return run();
    } catch (error) {
      try {
        this.#host.logger.debug(`usage: ${method} failed inside Homing`, { error: String(error) });
      } catch {}
      return ignored;
    }
  }

  getFeatureAdoptionStats(): FeatureAdoptionStats[] {
    return this.#features.stats();
  }

  getConversationStats(): ConversationStats {
    return this.#conversations.stats();
  }

  getProviderStats(): Record<string, ProviderSummary> {
    return this.#providers.stats();
  }

  getSuggestionStats(): SuggestionStats {
    return this.#suggestions.stats();
  }

  getStats(): UsageStats {
    return { rejected: { ...this.#rejected }, untrackedFeatureUses: this.#features.untracked };
  }

  /** Ends idle conversations and expires unanswered suggestions now (the timer does it every sweepIntervalMs). */
  sweep(): void {
    const now = this.#host.now();
    this.#conversations.sweep(now);
    this.#suggestions.sweep(now);
  }

  /**
   * Stops the timer and ends the conversations still open with outcome 'interrupted', so their
   * facts reach the server. Later calls are ignored.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.sweep();
    this.#conversations.endAll('interrupted');
    this.#closed = true;
  }
}

/** Creates a usage tracker over a feature host; throws a UsageOptionError for bad options. */
export function createUsageTracker(host: FeatureHost, options?: UsageOptions): UsageTracker {
  return new UsageTracker(host, options);
}
