/** Usage analytics: feature adoption, conversations, provider requests and proactive suggestions. */
export { createUsageTracker, UsageTracker } from './UsageTracker.js';
export type { UsageStats } from './UsageTracker.js';
export { USAGE_DEFAULTS } from './usageOptions.js';
export type { UsageOptions } from './usageOptions.js';
export { UsageOptionError } from './errors.js';
export type { FeatureAdoptionStats } from './FeatureAdoption.js';
export type { ConversationMessage, ConversationOutcome, ConversationStats } from './ConversationTracker.js';
export type { ProviderSummary } from './ProviderStats.js';
export type { SuggestionCounts, SuggestionStats } from './SuggestionTracker.js';
export type { UsageRejectReason } from './usageContext.js';
export { DistinctCounter } from './DistinctCounter.js';
