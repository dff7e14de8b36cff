import type { Logger } from '../logger.js';
import type { Outbox, OutboxBatch, OutboxRecord } from '../outbox/outbox.js';
import { utf8Length } from '../outbox/records.js';
import { OWN_REQUEST } from '../platform/ownRequest.js';
import type { Platform } from '../platform/platform.js';
import { readIngestAnswer } from './destinations/homing.js';
import type { EndpointChannel } from './EndpointChannel.js';
import type { KeepaliveBytes } from './keepaliveBytes.js';

export interface UnloadContext {
  readonly outbox: Outbox;
  /** Endpoints that may be used now, in order of preference. */
  readonly channels: readonly EndpointChannel[];
  readonly platform: Platform;
  readonly logger: Logger;
  readonly budgetBytes: number;
  /** The page's keepalive bytes in flight: the budget is what they leave of `budgetBytes`. */
  readonly keepalive: KeepaliveBytes;
  readonly batchSize: number;
  /**
   * Records of regular sends in flight that an earlier unload request of this page carried (see
   * `alsoInFlight`): not carried again, unless that request failed.
   */
  readonly carried: WeakSet<OutboxRecord>;
  /** The delivery's serialised claim: only for an outbox without `claimInMemory`. */
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
/** Less room than this for events (earlier unload sends still in flight): no send this time. */
const MIN_EVENT_BYTES = 1_024;

/**
 * A page is going away (pagehide, or hidden, which on mobile is often the last chance): send
 * what fits in the budget (64 KiB, the browsers' keepalive quota) to one endpoint that has an
 * unload format, in one CORS-simple request: POST, `text/plain`, the key in the body. A JSON
 * content type or an Authorization header would need a preflight, which is lost on unload.
 *
 * The request is issued before this function first awaits, so within the event handler: once a
 * page really navigates or closes, nothing that waits on storage (IndexedDB) or behind another
 * send runs any more. So the batch comes from the outbox's synchronous `claimInMemory`, never
 * from the delivery's serialised claim, which can wait behind a send in flight. An outbox
 * without it is claimed from the usual way, which only helps a hidden tab that lives on.
 *
 * Preferred: `fetch(..., { keepalive: true })`. If the page lives on (a hidden tab) its answer
 * arrives and the batch is acked or released as usual; if the page dies first, the claim dies
 * with it and the records stay in the outbox. Fallback: `navigator.sendBeacon`, whose outcome
 * is never known: the batch is released, never acked optimistically, so a lost beacon loses
 * nothing and the next page load sends the events again; the server dedups by uuid, so a
 * beacon that did arrive costs a duplicate request, not a duplicate event.
 */
export function sendPendingOnUnload(given: UnloadContext): Promise<void> {
  const channel = given.channels.find((c) => c.destination.sendsOnUnload);
  if (channel === undefined) return Promise.resolve();
  // What earlier unload sends of this page still have in flight is not ours to use (see
  // `keepaliveBytes.ts`): a request over the rest is refused. What does not fit waits.
  const budgetBytes = given.budgetBytes - given.keepalive.inFlight(Date.now());
  if (budgetBytes < ENVELOPE_BYTES + MIN_EVENT_BYTES) return Promise.resolve();
  const context = { ...given, budgetBytes };
  const maxBytes = budgetBytes - ENVELOPE_BYTES;
  const { outbox } = context;
  if (outbox.claimInMemory === undefined) {
    return context.claim(context.batchSize, maxBytes).then(
      (batch) => (batch === null ? undefined : send(context, channel, batch, [])),
      (error: unknown) => context.logger.warn('could not claim events to send on unload', { error }),
    );
  }
  let batch: OutboxBatch | null;
  let extra: OutboxRecord[];
  try {
    batch = outbox.claimInMemory(context.batchSize, maxBytes);
    extra = alsoInFlight(outbox, batch, context.batchSize, maxBytes, context.carried);
  } catch (error) {
    context.logger.warn('could not claim events to send on unload', { error });
    return Promise.resolve();
  }
  return batch === null && extra.length === 0 ? Promise.resolve() : send(context, channel, batch, extra);
}

/**
 * Records of the regular sends in flight, for the room the batch left: the page going away
 * aborts those sends. Not claimed by the unload send, so their own send settles them. Each goes
 * in one unload request at most (`carried`): a tab only hidden lives on and its sends end, and
 * every hide carried them again (one event went out 9 times while a tab was hidden and shown).
 * Should that request fail, they are still stored and go with the next load if not before.
 */
function alsoInFlight(
  outbox: Outbox,
  batch: OutboxBatch | null,
  maxEvents: number,
  maxBytes: number,
  carried: WeakSet<OutboxRecord>,
): OutboxRecord[] {
  let events = batch?.records.length ?? 0;
  let bytes = batch?.bytes ?? 0;
  const extra: OutboxRecord[] = [];
  for (const record of outbox.inFlight?.() ?? []) {
    if (carried.has(record)) continue;
    if (events >= maxEvents) break;
    const size = utf8Length(record.json);
    if (bytes + size > maxBytes) break;
    extra.push(record);
    events++;
    bytes += size;
  }
  return extra;
}

/**
 * Sends the unload batch (acked or released by the answer) and the in-flight records beside it;
 * everything up to the request is synchronous.
 */
async function send(
  context: UnloadContext,
  channel: EndpointChannel,
  claim: OutboxBatch | null,
  extra: readonly OutboxRecord[],
): Promise<void> {
  let claimed = claim;
  let released: Promise<void> | undefined;
  // Once: a trimmed send gives the claim back before its request goes out.
  const release = (): Promise<void> =>
    (released ??=
      claim === null
        ? Promise.resolve()
        : context.outbox.release(claim).catch((error: unknown) => {
            context.logger.warn('could not release events after an unload send', { error });
          }));
  let records = claimed === null ? extra : [...claimed.records, ...extra];
  const sentAt = new Date().toISOString();
  let request = channel.destination.unloadRequest(records, sentAt);
  // The claim was sized by the records' own JSON; a destination that rewrites each event
  // (Segment's messages are larger) can come out over the budget: fewer records then, as many
  // as fit, rather than none.
  let trimmed = false;
  for (let bytes = bodyBytes(request); request !== null && bytes > context.budgetBytes;) {
    if (records.length <= 1) break;
    const keep = Math.max(
      1,
      Math.min(records.length - 1, Math.floor((records.length * context.budgetBytes * 0.95) / bytes)),
    );
    records = records.slice(0, keep);
    request = channel.destination.unloadRequest(records, sentAt);
    bytes = bodyBytes(request);
    trimmed = true;
  }
  if (request === null || bodyBytes(request) > context.budgetBytes) {
    // One event larger than the budget: it waits for the next page load.
    return release();
  }
  if (trimmed && claimed !== null) {
    // Part of the claim goes: the claim is given back whole (a batch is acked whole), and the
    // part sent is sent again by the next page load if this one arrived (the uuid dedups it).
    void release();
    claimed = null;
  }
  let response: Promise<Response> | undefined;
  try {
    const init = {
      method: 'POST',
      body: request.body,
      headers: UNLOAD_HEADERS,
      keepalive: true,
      [OWN_REQUEST]: true,
    };
    response = context.platform.fetch(request.url, init);
    context.keepalive.addFetch(bodyBytes(request), response);
  } catch {
    response = undefined;
  }
  // The in-flight records this request carries (those after the claim's).
  const extraSent = records.slice(claim === null ? 0 : claim.records.length);
  if (response === undefined) {
    const queued = context.platform.sendOnUnload?.(request.url, request.body, UNLOAD_HEADERS) ?? false;
    if (queued) {
      context.keepalive.addBeacon(bodyBytes(request), Date.now());
      carry(context.carried, extraSent);
    }
    context.logger.debug('sent pending events with a beacon on unload', { queued, count: records.length });
    return release();
  }
  carry(context.carried, extraSent, response);
  if (claimed === null) {
    response.catch(() => undefined);
    return;
  }
  try {
    const res = await response;
    const text = await res.text().catch(() => '');
    const homing = channel.endpoint.destination === 'homing';
    if (!res.ok) return release();
    // Answers past the batch are about the in-flight records: their own send settles those.
    const refused = (
      homing ? readIngestAnswer(text, records.length).rejected : (request.rejected ?? [])
    ).filter((r) => r.index < claimed.records.length);
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

/** Marks `records` carried; a request that fails (no answer, or a refusal) unmarks them. */
function carry(
  carried: WeakSet<OutboxRecord>,
  records: readonly OutboxRecord[],
  response?: Promise<Response>,
): void {
  if (records.length === 0) return;
  for (const r of records) carried.add(r);
  const forget = (): void => {
    for (const r of records) carried.delete(r);
  };
  response?.then((res) => {
    if (!res.ok) forget();
  }, forget);
}

function bodyBytes(request: { body: string } | null): number {
  return request === null ? 0 : utf8Length(request.body);
}
