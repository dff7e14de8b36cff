import { uuidv7 } from '../../pipeline/uuidv7.js';
import { LogLinearHistogram } from '../performance/LogLinearHistogram.js';
import type { HistogramSummary } from '../performance/LogLinearHistogram.js';
import type { UsageContext } from './usageContext.js';
import { bump, copyProps, isCount, isName } from './usageContext.js';

/** One message of a conversation; other fields (strings, numbers, booleans) travel with its event. */
export interface ConversationMessage {
  role: string;
  tokens?: number;
  [field: string]: unknown;
}

/** `true` = 'success', `false` = 'failure', or a word of your own ('resolved', 'escalated', ...). */
export type ConversationOutcome = string | boolean;

export interface ConversationStats {
  started: number;
  ended: number;
  active: number;
  /** Ended by the idle timeout or by the active-conversation bound. */
  abandoned: number;
  byOutcome: Record<string, number>;
  messages: { total: number; byRole: Record<string, number> };
  tokens: number;
  /** Messages per ended conversation. */
  averageMessages: number | null;
  /** Durations of ended conversations, ms. */
  duration: HistogramSummary;
}

interface Conversation {
  readonly id: string;
  readonly startedAt: number;
  lastActivity: number;
  messages: number;
  tokens: number;
  readonly byRole: Record<string, number>;
}

const MAX_ROLES = 20;
const MAX_OUTCOMES = 50;

/** Conversations: start, messages, end (by hand, by idle timeout or by the bound), with counts and durations. */
export class ConversationTracker {
  /** Oldest activity first: a conversation is moved to the end on each message. */
  readonly #active = new Map<string, Conversation>();
  readonly #ctx: UsageContext;
  readonly #duration: LogLinearHistogram = new LogLinearHistogram();
  #started = 0;
  #ended = 0;
  #abandoned = 0;
  #messages = 0;
  #endedMessages = 0;
  #tokens = 0;
  readonly #byOutcome: Record<string, number> = {};
  readonly #byRole: Record<string, number> = {};

  constructor(context: UsageContext) {
    this.#ctx = context;
  }

  /** Starts (or, for an id already open, keeps) a conversation; answers its id, or undefined for bad input. */
  start(id?: unknown, meta?: unknown): string | undefined {
    const { settings } = this.#ctx;
    if (id !== undefined && !isName(id, settings.maxNameLength)) {
      this.#ctx.reject('conversation', 'a conversation id must be a non-empty string');
      return undefined;
    }
    // Copied before any state changes: a throwing getter rejects the call and changes nothing.
    const copy = copyProps(meta);
    if (copy === null) {
      this.#ctx.reject('props', 'conversation meta must be a plain object whose properties can be read');
      return undefined;
    }
    const now = this.#ctx.now();
    const conversationId = id ?? uuidv7(now);
    if (this.#active.has(conversationId)) return conversationId;
    this.sweep(now);
    while (this.#active.size >= settings.maxActiveConversations) {
      this.#end(this.#active.values().next().value!, 'abandoned', now, true);
    }
    this.#active.set(conversationId, {
      id: conversationId,
      startedAt: now,
      lastActivity: now,
      messages: 0,
      tokens: 0,
      byRole: {},
    });
    this.#started++;
    this.#ctx.emit('$conversation_started', { ...copy, conversation_id: conversationId });
    return conversationId;
  }

  message(conversationId: unknown, message: unknown): boolean {
    // Copied before anything changes (the sweep included): a throwing getter rejects the call.
    const m = copyProps(message) as ConversationMessage | null | undefined;
    const valid = m !== null && m !== undefined && isName(m.role, 64) && isCount(m.tokens);
    const now = this.#ctx.now();
    this.sweep(now);
    const conversation = typeof conversationId === 'string' ? this.#active.get(conversationId) : undefined;
    if (conversation === undefined) {
      this.#ctx.reject('conversation', 'no open conversation with that id');
      return false;
    }
    if (!valid) {
      this.#ctx.reject('message', 'a message is { role: string, tokens?: number >= 0 }');
      return false;
    }
    const tokens = m.tokens ?? 0;
    conversation.messages++;
    conversation.tokens += tokens;
    conversation.lastActivity = now;
    bump(conversation.byRole, m.role, MAX_ROLES);
    bump(this.#byRole, m.role, MAX_ROLES);
    this.#messages++;
    this.#tokens += tokens;
    this.#active.delete(conversation.id);
    this.#active.set(conversation.id, conversation);
    this.#ctx.emit('$conversation_message', {
      ...m,
      conversation_id: conversation.id,
      role: m.role,
      index: conversation.messages,
      ...(m.tokens === undefined ? {} : { tokens: m.tokens }),
    });
    return true;
  }

  end(conversationId: unknown, outcome?: unknown): boolean {
    const conversation = typeof conversationId === 'string' ? this.#active.get(conversationId) : undefined;
    if (conversation === undefined) {
      this.#ctx.reject('conversation', 'no open conversation with that id');
      return false;
    }
    if (outcome !== undefined && typeof outcome !== 'boolean' && !isName(outcome, 64)) {
      this.#ctx.reject('conversation', 'an outcome is a boolean or a short string');
      return false;
    }
    const word =
      outcome === undefined
        ? 'completed'
        : outcome === true
          ? 'success'
          : outcome === false
            ? 'failure'
            : outcome;
    this.#end(conversation, word, this.#ctx.now(), false);
    return true;
  }

  /** Ends every conversation idle for conversationTimeoutMs as 'abandoned'. */
  sweep(now: number): void {
    const timeout = this.#ctx.settings.conversationTimeoutMs;
    for (const conversation of this.#active.values()) {
      if (now - conversation.lastActivity < timeout) break;
      this.#end(conversation, 'abandoned', now, true);
    }
  }

  /** Ends every open conversation with `outcome` (on close: their facts would be lost otherwise). */
  endAll(outcome: string): void {
    const now = this.#ctx.now();
    for (const conversation of [...this.#active.values()]) this.#end(conversation, outcome, now, true);
  }

  stats(): ConversationStats {
    return {
      started: this.#started,
      ended: this.#ended,
      active: this.#active.size,
      abandoned: this.#abandoned,
      byOutcome: { ...this.#byOutcome },
      messages: { total: this.#messages, byRole: { ...this.#byRole } },
      tokens: this.#tokens,
      averageMessages: this.#ended === 0 ? null : this.#endedMessages / this.#ended,
      duration: this.#duration.summary(),
    };
  }

  #end(conversation: Conversation, outcome: string, now: number, auto: boolean): void {
    this.#active.delete(conversation.id);
    const durationMs = Math.max(0, now - conversation.startedAt);
    this.#ended++;
    if (outcome === 'abandoned') this.#abandoned++;
    this.#endedMessages += conversation.messages;
    bump(this.#byOutcome, outcome, MAX_OUTCOMES);
    if (durationMs <= Number.MAX_SAFE_INTEGER) this.#duration.record(durationMs);
    this.#ctx.emit('$conversation_ended', {
      conversation_id: conversation.id,
      outcome,
      duration_ms: durationMs,
      messages: conversation.messages,
      messages_by_role: { ...conversation.byRole },
      tokens: conversation.tokens,
      auto_ended: auto,
    });
  }
}
