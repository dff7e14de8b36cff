import type { ResolvedEndpoint } from '../deliveryOptions.js';
import { CustomDestination } from './custom.js';
import type { Destination } from './destination.js';
import { HomingDestination } from './homing.js';
import { PostHogDestination } from './posthog.js';
import { SegmentDestination } from './segment.js';

export function createDestination(endpoint: ResolvedEndpoint): Destination {
  switch (endpoint.destination) {
    case 'homing':
      return new HomingDestination(endpoint);
    case 'posthog':
      return new PostHogDestination(endpoint);
    case 'segment':
      return new SegmentDestination(endpoint);
    case 'custom':
      return new CustomDestination(endpoint);
  }
}
