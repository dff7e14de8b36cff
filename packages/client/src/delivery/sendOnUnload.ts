import type { Logger } from '../logger.js';
import type { Outbox, OutboxBatch } from '../outbox/outbox.js';
import type { Platform } from '../platform/platform.js';
import { readIngestAnswer } from './destinations/homing.js';
import type { EndpointChannel } from './EndpointChannel.js';

export interface UnloadContext {
  readonly outbox: Outbox;
  /** Endpoints that may be used now, in order of preference. */
  readonly channels: readonly EndpointChannel[];
  readonly platform: Platform;
  readonly logger: Logger;
  readonly budgetBytes: number;
  readonly batchSize: number;
  /** The delivery's serialised claim. */
  readonly claim: (maxEvents: number, maxBytes: number) => Promise<OutboxBatch | null>;
  readonly onAcked: (count: number, endpoint: string) => void;
  readonly onDeadLettered: (
    records: OutboxBatch['records'],
    reason: string,
    endpoint: string,
  ) => Promise<void>;
}

/** Room left in the budget for the body around the events (key, sent_at, brackets). */
const ENVELOPE_BYTES = 512;
const UNLOAD_HEADERS = { 'content-type': 'text/plain;charset=UTF-8' };

/**
 * A page is going away (pagehide, or hidden, which on mobile is often the last chance): send
 * what fits in the budget (64 KiB, the browsers' keepalive quota) to one endpoint that has an
 * unload format, in one CORS-simple request: POST, `text/plain`, the key in the body. A JSON
 * content type or an Authorization header would need a preflight, which is lost on unload.
 *
 * Preferred: `fetch(..., { keepalive: true })`. If the page lives on (a hidden tab) its answer
 * arrives and the batch is acked or released as usual; if the page dies first, the claim dies
 * with it and the records stay in the outbox. Fallback: `navigator.sendBeacon`, whose outcome
 * is never known: the batch is released, never acked optimistically, so a lost beacon loses
 * nothing and the next page load sends the events again; the server dedups by uuid, so a
 * beacon that did arrive costs a duplicate request, not a duplicate event.
 */
export async function sendPendingOnUnload(context: UnloadContext): Promise<void> {
  const channel = context.channels.find((c) => c.destination.unloadRequest([], '') !== null);
  if (channel === undefined || context.budgetBytes <= ENVELOPE_BYTES) return;
  let batch: OutboxBatch | null;
  try {
    batch = await context.claim(context.batchSize, context.budgetBytes - ENVELOPE_BYTES);
  } catch (error) {
    context.logger.warn('could not claim events to send on unload', { error });
    return;
  }
  if (batch === null) return;
  const claimed = batch;
  const release = (): Promise<void> =>
    context.outbox.release(claimed).catch((error: unknown) => {
      context.logger.warn('could not release events after an unload send', { error });
    });
  const request = channel.destination.unloadRequest(claimed.records, new Date().toISOString());
  if (request === null || new TextEncoder().encode(request.body).length > context.budgetBytes) {
    // One event larger than the budget: it waits for the next page load.
    return release();
  }
  let response: Promise<Response> | undefined;
  try {
    response = context.platform.fetch(request.url, {
      method: 'POST',
      body: request.body,
      headers: UNLOAD_HEADERS,
      keepalive: true,
    });
  } catch {
    response = undefined;
  }
  if (response === undefined) {
    const queued = context.platform.sendOnUnload?.(request.url, request.body, UNLOAD_HEADERS) ?? false;
    context.logger.debug('sent pending events with a beacon on unload', {
      queued,
      count: claimed.records.length,
    });
    return release();
  }
  try {
    const res = await response;
    const text = await res.text().catch(() => '');
    const homing = channel.endpoint.destination === 'homing';
    if (!(res.ok || (homing && res.status === 409))) return release();
    const refused = homing && res.ok ? readIngestAnswer(text, claimed.records.length).rejected : [];
    for (const r of refused) {
      await context.onDeadLettered([claimed.records[r.index]!], r.reason, channel.id);
    }
    await context.outbox.ack(claimed);
    context.onAcked(claimed.records.length - refused.length, channel.id);
  } catch (error) {
    context.logger.debug('unload send failed; the events stay in the outbox', { error });
    return release();
  }
}
