import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeHost } from '../performance/fakeHost.test-helpers.js';
import { DistinctCounter } from './DistinctCounter.js';
import { UsageOptionError } from './errors.js';
import { createUsageTracker } from './UsageTracker.js';
import type { UsageOptions } from './usageOptions.js';
import type { UsageTracker } from './UsageTracker.js';

const open: UsageTracker[] = [];
function tracker(options: UsageOptions = {}, host = fakeHost()) {
  const u = createUsageTracker(host, { sweepIntervalMs: 0, ...options });
  open.push(u);
  return { u, host };
}

afterEach(() => {
  vi.useRealTimers();
  for (const u of open.splice(0)) u.close();
});

const MIN = 60_000;

describe('UsageTracker: features', () => {
  it('sends $feature_used and keeps adoption stats per feature', () => {
    const { u, host } = tracker();
    const t0 = host.clock.now;
    u.trackFeature('proactive-suggestions', 'enabled', { userId: 'user-1', plan: 'pro' });
    host.clock.now += MIN;
    u.trackFeature('proactive-suggestions', 'used', { userId: 'user-2' });
    u.trackFeature('proactive-suggestions', 'used', { userId: 'user-1' });
    u.trackFeature('export', 'clicked');
    expect(host.named('$feature_used')[0]).toEqual({
      userId: 'user-1',
      plan: 'pro',
      feature: 'proactive-suggestions',
      action: 'enabled',
      first_use: true,
    });
    expect(host.named('$feature_used')[1]).toMatchObject({ first_use: false });
    expect(u.getFeatureAdoptionStats()).toEqual([
      {
        feature: 'proactive-suggestions',
        uses: 3,
        users: 2,
        usersApproximate: false,
        firstSeen: new Date(t0).toISOString(),
        lastSeen: new Date(t0 + MIN).toISOString(),
        actions: { enabled: 1, used: 2 },
      },
      expect.objectContaining({ feature: 'export', uses: 1, users: 0 }),
    ]);
  });

  it('takes the user from the userId option when props carry none', () => {
    let user: string | undefined = 'a';
    const { u } = tracker({ userId: () => user });
    u.trackFeature('f', 'x');
    user = 'b';
    u.trackFeature('f', 'x');
    u.trackFeature('f', 'x', { userId: 'a' });
    user = undefined;
    u.trackFeature('f', 'x');
    expect(u.getFeatureAdoptionStats()[0]).toMatchObject({ uses: 4, users: 2 });
  });

  it('bounds features and actions; events for the rest are still sent', () => {
    const { u, host } = tracker({ maxFeatures: 3, maxActionsPerFeature: 2 });
    for (let i = 0; i < 100; i++) u.trackFeature(`feature-${i}`, 'used');
    for (let i = 0; i < 10; i++) u.trackFeature('feature-0', `action-${i}`);
    expect(u.getFeatureAdoptionStats()).toHaveLength(3);
    expect(u.getFeatureAdoptionStats()[0]!.actions).toEqual({ used: 1, 'action-0': 1, $other: 9 });
    expect(u.getStats().untrackedFeatureUses).toBe(97);
    expect(host.named('$feature_used')).toHaveLength(110);
    expect(host.named('$feature_used')[50]).not.toHaveProperty('first_use');
  });

  it('rejects bad feature calls without throwing or sending', () => {
    const { u, host } = tracker();
    const bad: unknown[][] = [
      [undefined, 'a'],
      [1, 'a'],
      ['', 'a'],
      ['x'.repeat(201), 'a'],
      ['f', null],
      ['f', {}],
      ['f', 'a', 'props'],
      ['f', 'a', [1]],
      ['f', 'a', new Map()],
      ['f', 'a', null],
    ];
    for (const args of bad) expect((u.trackFeature as any)(...args)).toBe(false);
    expect(host.events).toHaveLength(0);
    expect(u.getStats().rejected).toMatchObject({ feature: 4, action: 2, props: 4 });
  });
});

describe('DistinctCounter', () => {
  it('counts exactly up to maxExact, then estimates within a few percent in bounded memory', () => {
    const c = new DistinctCounter(1000);
    for (let i = 0; i < 1000; i++) c.add(`user-${i}`);
    for (let i = 0; i < 1000; i++) c.add(`user-${i}`);
    expect(c.count()).toBe(1000);
    expect(c.approximate).toBe(false);
    for (let i = 1000; i < 100_000; i++) c.add(`user-${i}`);
    expect(c.approximate).toBe(true);
    expect(Math.abs(c.count() - 100_000) / 100_000).toBeLessThan(0.1);
    const before = c.count();
    for (let i = 0; i < 100_000; i++) c.add(`user-${i}`);
    expect(c.count()).toBe(before);
    expect(c.bytes()).toBeLessThanOrEqual(2048);
  });

  it('estimates small counts closely once approximate (linear counting)', () => {
    const c = new DistinctCounter(0);
    for (let i = 0; i < 200; i++) c.add(`u${i}`);
    expect(Math.abs(c.count() - 200)).toBeLessThan(20);
  });
});

describe('UsageTracker: conversations', () => {
  it('counts messages, tokens and durations, and sends the facts', () => {
    const { u, host } = tracker();
    const id = u.startConversation('conv-1', { provider: 'openai' })!;
    expect(id).toBe('conv-1');
    u.trackMessage(id, { role: 'user', tokens: 50 });
    host.clock.now += 4000;
    u.trackMessage(id, { role: 'assistant', tokens: 200, model: 'm' });
    expect(u.endConversation(id, true)).toBe(true);
    expect(host.named('$conversation_started')).toEqual([{ provider: 'openai', conversation_id: 'conv-1' }]);
    expect(host.named('$conversation_message')[1]).toEqual({
      role: 'assistant',
      tokens: 200,
      model: 'm',
      conversation_id: 'conv-1',
      index: 2,
    });
    expect(host.named('$conversation_ended')).toEqual([
      {
        conversation_id: 'conv-1',
        outcome: 'success',
        duration_ms: 4000,
        messages: 2,
        messages_by_role: { user: 1, assistant: 1 },
        tokens: 250,
        auto_ended: false,
      },
    ]);
    expect(u.getConversationStats()).toMatchObject({
      started: 1,
      ended: 1,
      active: 0,
      abandoned: 0,
      byOutcome: { success: 1 },
      messages: { total: 2, byRole: { user: 1, assistant: 1 } },
      tokens: 250,
      averageMessages: 2,
      duration: { count: 1, min: 4000, max: 4000 },
    });
  });

  it('makes an id when none is given and keeps an open one when started again', () => {
    const { u, host } = tracker();
    const id = u.startConversation()!;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(u.startConversation(id)).toBe(id);
    expect(host.named('$conversation_started')).toHaveLength(1);
    u.endConversation(id, false);
    u.startConversation('b');
    u.endConversation('b', 'escalated');
    u.startConversation('c');
    u.endConversation('c');
    expect(u.getConversationStats().byOutcome).toEqual({ failure: 1, escalated: 1, completed: 1 });
  });

  it('ends a conversation idle past conversationTimeoutMs as abandoned, on the sweep timer', () => {
    vi.useFakeTimers();
    const host = fakeHost();
    const { u } = tracker({ conversationTimeoutMs: 30 * MIN, sweepIntervalMs: MIN }, host);
    u.startConversation('idle');
    u.startConversation('busy');
    for (let i = 0; i < 40; i++) {
      host.clock.now += MIN;
      u.trackMessage('busy', { role: 'user' });
      vi.advanceTimersByTime(MIN);
    }
    expect(host.named('$conversation_ended')).toEqual([
      expect.objectContaining({
        conversation_id: 'idle',
        outcome: 'abandoned',
        auto_ended: true,
        duration_ms: 30 * MIN,
      }),
    ]);
    expect(u.trackMessage('idle', { role: 'user' })).toBe(false);
    expect(u.getConversationStats()).toMatchObject({ active: 1, abandoned: 1 });
  });

  it('keeps open conversations bounded, ending the longest idle', () => {
    const { u, host } = tracker({ maxActiveConversations: 3 });
    for (const id of ['a', 'b', 'c']) u.startConversation(id);
    u.trackMessage('a', { role: 'user' });
    u.startConversation('d');
    u.startConversation('e');
    expect(host.named('$conversation_ended').map((e) => e.conversation_id)).toEqual(['b', 'c']);
    expect(u.getConversationStats().active).toBe(3);
    for (let i = 0; i < 10_000; i++) u.startConversation(`x${i}`);
    expect(u.getConversationStats().active).toBe(3);
  });

  it('rejects bad conversation calls', () => {
    const { u, host } = tracker();
    u.startConversation('c');
    expect(u.startConversation(5 as never)).toBeUndefined();
    expect(u.startConversation('', {})).toBeUndefined();
    expect(u.startConversation('d', 'openai' as never)).toBeUndefined();
    const badMessages: unknown[] = [
      null,
      'hi',
      {},
      { role: 1 },
      { role: '' },
      { role: 'user', tokens: -1 },
      { role: 'user', tokens: Number.NaN },
      { role: 'user', tokens: Number.POSITIVE_INFINITY },
      { role: 'user', tokens: '5' },
    ];
    for (const m of badMessages) expect(u.trackMessage('c', m as never)).toBe(false);
    expect(u.trackMessage('nope', { role: 'user' })).toBe(false);
    expect(u.endConversation('nope')).toBe(false);
    expect(u.endConversation('c', 42 as never)).toBe(false);
    expect(u.getStats().rejected).toMatchObject({ conversation: 5, props: 1, message: badMessages.length });
    expect(host.named('$conversation_message')).toHaveLength(0);
    expect(u.getConversationStats()).toMatchObject({ active: 1, messages: { total: 0 } });
  });

  it('close ends open conversations as interrupted and ignores later calls', () => {
    const { u, host } = tracker();
    u.startConversation('c');
    u.close();
    u.close();
    expect(host.named('$conversation_ended')).toEqual([expect.objectContaining({ outcome: 'interrupted' })]);
    expect(u.startConversation('d')).toBeUndefined();
    expect(u.trackFeature('f', 'a')).toBe(false);
    expect(u.trackProviderRequest('p', 1, true)).toBe(false);
    expect(u.suggestionShown('s')).toBe(false);
  });
});

describe('UsageTracker: providers', () => {
  it('keeps success rate, tokens and latency percentiles per provider', () => {
    const { u, host } = tracker();
    for (let i = 1; i <= 100; i++) u.trackProviderRequest('openai', i * 10, i % 10 !== 0, 100);
    u.trackProviderRequest('anthropic', 200, true);
    const stats = u.getProviderStats();
    expect(stats.openai).toMatchObject({
      requests: 100,
      successes: 90,
      failures: 10,
      successRate: 0.9,
      tokens: 10_000,
    });
    expect(stats.openai!.latency).toMatchObject({ count: 100, min: 10, max: 1000 });
    expect(Math.abs(stats.openai!.latency.p95! - 950) / 950).toBeLessThan(0.01);
    expect(stats.anthropic).toMatchObject({ requests: 1, successRate: 1, tokens: 0 });
    expect(host.named('$provider_request')[0]).toEqual({
      provider: 'openai',
      latency_ms: 10,
      success: true,
      tokens: 100,
    });
    expect(host.named('$provider_request')[100]).toEqual({
      provider: 'anthropic',
      latency_ms: 200,
      success: true,
    });
  });

  it('bounds providers and rejects bad requests', () => {
    const { u } = tracker({ maxProviders: 2 });
    for (let i = 0; i < 50; i++) u.trackProviderRequest(`p${i}`, 1, true);
    expect(Object.keys(u.getProviderStats())).toEqual(['p0', 'p1', '$other']);
    expect(u.getProviderStats().$other!.requests).toBe(48);
    const bad: unknown[][] = [
      [1, 1, true],
      ['p', -1, true],
      ['p', Number.NaN, true],
      ['p', Number.POSITIVE_INFINITY, true],
      ['p', 1e300, true],
      ['p', 1, 'yes'],
      ['p', 1, true, -5],
      ['p', 1, true, Number.NaN],
    ];
    for (const args of bad) expect((u.trackProviderRequest as any)(...args)).toBe(false);
    expect(u.getStats().rejected).toMatchObject({ provider: 2, latency: 4, tokens: 2 });
  });
});

describe('UsageTracker: proactive suggestions', () => {
  it('computes acceptance rate and time to accept, overall and by kind', () => {
    const { u, host } = tracker();
    u.suggestionShown('s1', 'tip');
    u.suggestionShown('s2', 'tip');
    u.suggestionShown('s3', 'popup');
    host.clock.now += 5000;
    expect(u.suggestionAccepted('s1')).toBe(true);
    expect(u.suggestionDismissed('s3')).toBe(true);
    const stats = u.getSuggestionStats();
    expect(stats).toMatchObject({
      shown: 3,
      accepted: 1,
      dismissed: 1,
      expired: 0,
      pending: 1,
      acceptanceRate: 0.5,
    });
    expect(stats.timeToAccept).toMatchObject({ count: 1, min: 5000 });
    expect(stats.byKind).toEqual({
      tip: { shown: 2, accepted: 1, dismissed: 0, expired: 0, acceptanceRate: 1 },
      popup: { shown: 1, accepted: 0, dismissed: 1, expired: 0, acceptanceRate: 0 },
    });
    expect(host.named('$suggestion_accepted')).toEqual([
      { suggestion_id: 's1', kind: 'tip', time_to_accept_ms: 5000 },
    ]);
    expect(host.named('$suggestion_dismissed')).toEqual([
      { suggestion_id: 's3', kind: 'popup', time_to_dismiss_ms: 5000 },
    ]);
  });

  it('expires unanswered suggestions after the timeout, and answers to them are rejected', () => {
    const { u, host } = tracker({ suggestionTimeoutMs: 10 * MIN });
    u.suggestionShown('s1');
    host.clock.now += 10 * MIN;
    u.sweep();
    expect(host.named('$suggestion_expired')).toEqual([
      { suggestion_id: 's1', kind: 'default', shown_ms: 10 * MIN },
    ]);
    expect(u.suggestionAccepted('s1')).toBe(false);
    expect(u.getSuggestionStats()).toMatchObject({ expired: 1, acceptanceRate: 0, pending: 0 });
  });

  it('bounds pending suggestions and rejects bad calls', () => {
    const { u } = tracker({ maxPendingSuggestions: 10 });
    for (let i = 0; i < 1000; i++) u.suggestionShown(`s${i}`);
    expect(u.getSuggestionStats()).toMatchObject({ pending: 10, expired: 990 });
    expect(u.suggestionShown('s999')).toBe(false); // already pending
    expect(u.suggestionShown(1 as never)).toBe(false);
    expect(u.suggestionShown('x', {} as never)).toBe(false);
    expect(u.suggestionAccepted('never-shown')).toBe(false);
    expect(u.suggestionDismissed(undefined as never)).toBe(false);
    expect(u.getStats().rejected.suggestion).toBe(5);
  });
});

describe('UsageTracker: options and host', () => {
  it('throws a UsageOptionError naming each bad option', () => {
    const bad: [string, unknown][] = [
      ['maxFeatures', 0],
      ['maxExactUsers', -1],
      ['conversationTimeoutMs', 0],
      ['conversationTimeoutMs', Number.POSITIVE_INFINITY],
      ['sweepIntervalMs', -5],
      ['maxProviders', 2.5],
      ['userId', 'me'],
      ['suggestionTimeout', 1],
    ];
    for (const [option, value] of bad) {
      let caught: unknown;
      try {
        createUsageTracker(fakeHost(), { [option]: value } as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(UsageOptionError);
      expect((caught as UsageOptionError).option).toBe(option);
    }
    expect(() => createUsageTracker(null as never)).toThrow(UsageOptionError);
  });

  it('passes cyclic props on untouched (the pipeline serialises them) and refuses huge token counts', () => {
    const events: unknown[] = [];
    const host = { ...fakeHost(), track: (_e: string, p?: Record<string, unknown>) => void events.push(p) };
    const { u } = tracker({}, host);
    const props: Record<string, unknown> = { userId: 'u1' };
    props.self = props;
    expect(u.trackFeature('f', 'a', props)).toBe(true);
    expect((events[0] as Record<string, unknown>).self).toBe(props);
    const id = u.startConversation()!;
    expect(u.trackMessage(id, { role: 'user', tokens: 1e300 })).toBe(false);
    expect(u.trackProviderRequest('p', 1, true, 2 ** 60)).toBe(false);
    expect(u.getConversationStats().tokens).toBe(0);
  });

  it('never throws on props, meta or messages whose getters or Proxy traps throw; changes no stats, counts them', () => {
    const { u, host } = tracker({ userId: () => 'from-option' });
    const throwing = (key: string) =>
      Object.defineProperty({ ok: 1 }, key, {
        enumerable: true,
        get() {
          throw new Error(`getter ${key}`);
        },
      });
    const trap = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    const id = u.startConversation('c1')!;
    u.trackFeature('export', 'used', { userId: 'u1' });
    const before = {
      features: u.getFeatureAdoptionStats(),
      conversations: u.getConversationStats(),
      events: host.events.length,
    };
    host.clock.now += MIN;

    expect(u.trackFeature('export', 'used', throwing('userId'))).toBe(false);
    expect(u.trackFeature('export', 'used', throwing('x'))).toBe(false);
    expect(u.trackFeature('import', 'used', trap as never)).toBe(false);
    expect(u.startConversation('c2', throwing('m'))).toBeUndefined();
    expect(u.trackMessage(id, throwing('role') as never)).toBe(false);
    expect(
      u.trackMessage(id, {
        role: 'assistant',
        ...{},
        get x(): number {
          throw new Error('gx');
        },
      } as never),
    ).toBe(false);
    expect(u.trackMessage(id, trap as never)).toBe(false);

    expect(u.getFeatureAdoptionStats()).toEqual(before.features);
    expect(u.getConversationStats()).toEqual(before.conversations);
    expect(host.events).toHaveLength(before.events);
    expect(u.getStats().rejected).toMatchObject({ props: 4, message: 3 });
  });

  it('a userId option that throws counts as no user', () => {
    const { u } = tracker({
      userId: () => {
        throw new Error('option bug');
      },
    });
    expect(u.trackFeature('f', 'a')).toBe(true);
    expect(u.getFeatureAdoptionStats()[0]).toMatchObject({ uses: 1, users: 0 });
  });

  it('accepts sweepIntervalMs 0 (no timer) and keeps going when host.track throws', () => {
    const host = fakeHost();
    host.track = () => {
      throw new Error('boom');
    };
    const { u } = tracker({ sweepIntervalMs: 0 }, host);
    expect(u.trackFeature('f', 'a')).toBe(true);
    expect(u.getFeatureAdoptionStats()[0]!.uses).toBe(1);
  });
});
