/** Delivery: batches out of the outbox, through retry and a breaker per endpoint, to a destination. */
export { Delivery } from './Delivery.js';
export type { DeliveryDeps, DeliveryStats, FlushResult } from './Delivery.js';
export type { BatchRefusal } from './BatchSender.js';
export { DEFAULT_DELIVERY_OPTIONS, resolveDeliveryOptions } from './deliveryOptions.js';
export type {
  BreakerOptions,
  CustomSend,
  CustomSendContext,
  DeliveryOptions,
  DeliveryOptionsInput,
  DestinationName,
  EndpointConfig,
  ResolvedEndpoint,
  RetryBackoffOptions,
} from './deliveryOptions.js';
export { breakerStateKey, ENDPOINTS_STATE_KEY, SENDING_STATE_KEY } from './EndpointChannel.js';
export { openPeriodMs } from './breakerOpenPeriods.js';
export type { SavedSending } from './EndpointChannel.js';
export { savedServerWaitAt, serverWaitStateKey } from './savedServerWait.js';
export { parsePoisonSearchState, POISON_LONE_FAILURES, POISON_SEARCH_STATE_KEY } from './PoisonIsolation.js';
export type { PoisonSearchState } from './PoisonIsolation.js';
export type { SavedServerWait } from './savedServerWait.js';
export type { EndpointSnapshot } from './EndpointChannel.js';
export { DeliveryBusyError, DeliveryError, DeliveryOptionError, DestinationError } from './errors.js';
export type { DeliveryErrorKind, DestinationErrorOptions } from './errors.js';
