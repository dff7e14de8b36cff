/**
 * The outbox: one interface, one implementation per storage. This entry is browser-safe; the
 * file outbox (Node only, it uses node:fs) is exported from `./node.js` so a browser bundle that
 * loads this file never pulls in node modules.
 */
export type {
  DeadLetter,
  DropReason,
  Outbox,
  OutboxBatch,
  OutboxDrop,
  OutboxDurability,
  OutboxLimits,
  OutboxRecord,
  OutboxSize,
} from './outbox.js';
export {
  OutboxClosedError,
  OutboxError,
  OutboxIoError,
  OutboxNotFoundError,
  OutboxOptionError,
  OutboxStateError,
} from './errors.js';
export type { OutboxErrorKind } from './errors.js';
export { DEFAULT_OUTBOX_LIMITS, resolveOutboxLimits } from './limits.js';
export { createMemoryOutbox, MemoryOutbox } from './memory.js';
export type { MemoryOutboxOptions } from './memory.js';
export { DropListeners, normalizeRecord, utf8Length } from './records.js';
export { checkStateKey, encodeStateValue } from './stateValue.js';
