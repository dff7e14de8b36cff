import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { clientFor, Sink, sinkEvents, until } from './telemetry.test-helpers.js';

describe('consent', () => {
  let sink: Sink;
  beforeAll(async () => {
    sink = await Sink.start();
  });
  beforeEach(() => {
    sink.requests.length = 0;
  });
  afterAll(() => sink.down());

  it('pending holds events in the outbox without sending; granted sends them', async () => {
    const outbox = createMemoryOutbox();
    const t = clientFor(sink, { consent: 'pending', storage: outbox });
    for (let i = 0; i < 5; i++) t.track('held', { i });
    const flushed = await t.flush({ timeoutMs: 2_000 });
    expect(flushed.sent).toBe(0);
    await t.persist();
    expect((await outbox.size()).events).toBe(5);
    expect(sink.requests).toHaveLength(0);
    t.setConsent('granted');
    await until(async () => (await t.stats()).sent === 5, 15_000, 'held events sent');
    expect(sinkEvents(sink).map((e) => e.properties.i)).toEqual([0, 1, 2, 3, 4]);
    await t.shutdown({ timeoutMs: 5_000 });
    await outbox.close();
  });

  it('denied drops new events and clears what is held, counted as consent', async () => {
    const outbox = createMemoryOutbox();
    const t = clientFor(sink, { consent: 'pending', storage: outbox });
    const drops: number[] = [];
    t.on('drop', (d) => d.reason === 'consent' && drops.push(d.count));
    for (let i = 0; i < 4; i++) t.track('held');
    await t.persist();
    t.setConsent('denied');
    t.track('after.denied');
    await until(async () => (await outbox.size()).events === 0, 10_000, 'outbox cleared');
    const stats = await t.stats();
    expect(stats.consent).toBe('denied');
    expect(stats.dropped.consent).toBe(5);
    expect(drops.reduce((a, b) => a + b, 0)).toBe(5);
    await t.flush({ timeoutMs: 1_000 });
    expect(sink.requests).toHaveLength(0);
    // Granted again: new events flow, nothing of the cleared ones comes back.
    t.setConsent('granted');
    t.track('regranted');
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['regranted']);
    await t.shutdown({ timeoutMs: 5_000 });
    await outbox.close();
  });

  it('denied before the install id is read drops the waiting events too', async () => {
    const t = clientFor(sink);
    t.track('early');
    t.setConsent('denied');
    await t.flush({ timeoutMs: 1_000 });
    expect((await t.stats()).dropped.consent).toBeGreaterThanOrEqual(1);
    expect(sink.requests).toHaveLength(0);
    await t.shutdown({ timeoutMs: 2_000 });
  });

  it('remembers setConsent across clients on one storage, over the consent option', async () => {
    const outbox: Outbox = createMemoryOutbox();
    const first = clientFor(sink, { storage: outbox });
    first.setConsent('denied');
    await first.shutdown({ timeoutMs: 2_000 });
    const second = clientFor(sink, { storage: outbox, consent: 'granted' });
    second.track('should.drop');
    await second.flush({ timeoutMs: 2_000 });
    expect((await second.stats()).consent).toBe('denied');
    expect(sink.requests).toHaveLength(0);
    await second.shutdown({ timeoutMs: 2_000 });
    const forgetful = clientFor(sink, { storage: outbox, rememberConsent: false });
    forgetful.track('sent');
    await forgetful.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['sent']);
    await forgetful.shutdown({ timeoutMs: 2_000 });
    await outbox.close();
  });
  it('follows a consent another process set on the shared storage: denied there stops sending and clears here too', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-consent-'));
    const refusing = await Sink.start(() => ({ status: 503, headers: { 'retry-after': '0' } }));
    const options = (name: string) => ({
      storage: 'file' as const,
      directory: dir,
      distinctId: name,
      delivery: { intervalMs: 20, retry: { initialMs: 10, maxMs: 50 } },
    });
    // The long-running one: it holds the delivery lock, its events queued (the server refuses).
    const running = clientFor(refusing, options('running'));
    for (let i = 0; i < 10; i++) running.track('queued', { i });
    await running.persist();
    await running.flush({ timeoutMs: 300 });
    // The user opts out from another process (a CLI's `telemetry off`).
    const cli = clientFor(refusing, options('cli'));
    cli.setConsent('denied');
    await cli.shutdown({ timeoutMs: 1_000 });
    try {
      await until(
        async () => (await running.stats()).consent === 'denied',
        10_000,
        'the other process’s denial',
      );
      await until(async () => (await running.stats()).dropped.consent >= 10, 10_000, 'what it held cleared');
      refusing.handler = () => ({ status: 202, body: '{}' });
      running.track('after.denied');
      await running.flush({ timeoutMs: 1_000 });
      expect(refusing.acceptedUuids).toEqual([]);
      expect((await running.stats()).dropped.consent).toBe(11);
    } finally {
      await running.shutdown({ timeoutMs: 1_000 });
      await refusing.down();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("starting with consent 'denied' clears what an earlier pending run held", async () => {
    const outbox = createMemoryOutbox();
    const first = clientFor(sink, { consent: 'pending', storage: outbox });
    for (let i = 0; i < 3; i++) first.track('held.before.denial');
    await first.shutdown({ timeoutMs: 2_000 });
    expect((await outbox.size()).events).toBe(3);
    const denied = clientFor(sink, { consent: 'denied', storage: outbox });
    await until(async () => (await outbox.size()).events === 0, 10_000, 'outbox cleared at start');
    expect((await denied.stats()).dropped.consent).toBe(3);
    await denied.shutdown({ timeoutMs: 2_000 });
    const granted = clientFor(sink, { consent: 'granted', storage: outbox, rememberConsent: false });
    granted.track('after');
    await granted.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['after']);
    await granted.shutdown({ timeoutMs: 2_000 });
    await outbox.close();
  });

  it("a remembered 'granted' keeps events tracked before it was read, over a 'denied' option", async () => {
    const outbox = createMemoryOutbox();
    const first = clientFor(sink, { storage: outbox });
    first.setConsent('granted');
    await first.shutdown({ timeoutMs: 2_000 });
    const second = clientFor(sink, { storage: outbox, consent: 'denied' });
    second.track('right.after.start');
    await second.flush({ timeoutMs: 10_000 });
    const stats = await second.stats();
    expect(stats.consent).toBe('granted');
    expect(stats.dropped.consent).toBe(0);
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['right.after.start']);
    await second.shutdown({ timeoutMs: 2_000 });
    // Nothing remembered: the same early event is dropped, counted.
    const fresh = clientFor(sink, { storage: createMemoryOutbox(), consent: 'denied' });
    fresh.track('dropped');
    await fresh.flush({ timeoutMs: 1_000 });
    expect((await fresh.stats()).dropped.consent).toBe(1);
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['right.after.start']);
    await fresh.shutdown({ timeoutMs: 2_000 });
    await outbox.close();
  });

  it('an event that waits for the remembered consent is redacted and kept as it was at track(), whatever the app does to its object after', async () => {
    const outbox = createMemoryOutbox();
    const first = clientFor(sink, { storage: outbox });
    first.setConsent('granted');
    await first.shutdown({ timeoutMs: 2_000 });
    const second = clientFor(sink, { storage: outbox, consent: 'denied', distinctId: 'user-1' });
    // Plain and clean when tracked: read in place, had it been built before track() returned.
    const props: Record<string, unknown> = { note: 'nothing to see', plan: 'pro' };
    second.track('checkout', props);
    const withPii: Record<string, unknown> = { note: 'mail ann@example.com' };
    second.track('contact', withPii);
    // The app reuses its objects at once.
    props['note'] = 'ann@example.com 4111 1111 1111 1111';
    props['password'] = 'hunter2';
    withPii['note'] = 'changed';
    await second.flush({ timeoutMs: 10_000 });
    const sent = sinkEvents(sink).map((e) => [e.event, e.properties['note'], e.properties['password']]);
    expect(sent).toEqual([
      ['checkout', 'nothing to see', undefined],
      ['contact', 'mail [REDACTED]', undefined],
    ]);
    expect(props['password']).toBe('hunter2');
    await second.shutdown({ timeoutMs: 2_000 });
    await outbox.close();
  });
});
