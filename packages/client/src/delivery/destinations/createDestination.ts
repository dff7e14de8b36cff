import type { ResolvedEndpoint } from '../deliveryOptions.js';
import { CustomDestination } from './custom.js';
import type { Destination } from './destination.js';
import { HomingDestination } from './homing.js';
import { PostHogDestination } from './posthog.js';
import type { ReplacedWhole } from './redactedTraits.js';
import { SegmentDestination } from './segment.js';

/** `replacedWhole`: what redaction writes in place of a value (left out of PostHog's and Segment's traits). */
export function createDestination(endpoint: ResolvedEndpoint, replacedWhole?: ReplacedWhole): Destination {
  switch (endpoint.destination) {
    case 'homing':
      return new HomingDestination(endpoint);
    case 'posthog':
      return new PostHogDestination(endpoint, replacedWhole);
    case 'segment':
      return new SegmentDestination(endpoint, replacedWhole);
    case 'custom':
      return new CustomDestination(endpoint);
  }
}
