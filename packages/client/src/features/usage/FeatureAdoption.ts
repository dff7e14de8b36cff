import { DistinctCounter } from './DistinctCounter.js';
import type { UsageContext } from './usageContext.js';
import { bump, copyProps, isName, iso } from './usageContext.js';

export interface FeatureAdoptionStats {
  feature: string;
  uses: number;
  /** Distinct users seen (exact up to maxExactUsers, then an estimate: see `usersApproximate`). */
  users: number;
  usersApproximate: boolean;
  firstSeen: string;
  lastSeen: string;
  /** Uses by action; past maxActionsPerFeature, counted under '$other'. */
  actions: Record<string, number>;
}

interface Feature {
  uses: number;
  users: DistinctCounter;
  firstSeen: number;
  lastSeen: number;
  actions: Record<string, number>;
}

/** `trackFeature`: one `$feature_used` event per call, and adoption stats for up to maxFeatures features. */
export class FeatureAdoption {
  readonly #features = new Map<string, Feature>();
  readonly #ctx: UsageContext;
  /** Uses of features past maxFeatures: sent, but without local stats. */
  untracked = 0;

  constructor(context: UsageContext) {
    this.#ctx = context;
  }

  track(featureId: unknown, action: unknown, props?: unknown): boolean {
    const { settings } = this.#ctx;
    if (!isName(featureId, settings.maxNameLength)) {
      this.#ctx.reject('feature', 'featureId must be a non-empty string');
      return false;
    }
    if (!isName(action, settings.maxNameLength)) {
      this.#ctx.reject('action', 'action must be a non-empty string');
      return false;
    }
    // Copied before any stats change: a throwing getter rejects the call and changes nothing.
    const copy = copyProps(props);
    if (copy === null) {
      this.#ctx.reject('props', 'props must be a plain object whose properties can be read');
      return false;
    }
    const now = this.#ctx.now();
    const userId = typeof copy?.['userId'] === 'string' ? copy['userId'] : this.#defaultUserId();
    let feature = this.#features.get(featureId);
    let firstUse: boolean | undefined = false;
    if (feature === undefined && this.#features.size < settings.maxFeatures) {
      firstUse = true;
      feature = {
        uses: 0,
        users: new DistinctCounter(settings.maxExactUsers),
        firstSeen: now,
        lastSeen: now,
        actions: {},
      };
      this.#features.set(featureId, feature);
    }
    if (feature === undefined) {
      // Past maxFeatures this process cannot tell a first use from a later one.
      firstUse = undefined;
      this.untracked++;
    } else {
      feature.uses++;
      feature.lastSeen = now;
      bump(feature.actions, action, settings.maxActionsPerFeature);
      if (typeof userId === 'string' && userId !== '') feature.users.add(userId);
    }
    this.#ctx.emit('$feature_used', {
      ...copy,
      feature: featureId,
      action,
      ...(firstUse === undefined ? {} : { first_use: firstUse }),
    });
    return true;
  }

  /** The `userId` option's answer; an option that throws counts as no user. */
  #defaultUserId(): unknown {
    try {
      return this.#ctx.settings.userId?.();
    } catch {
      return undefined;
    }
  }

  stats(): FeatureAdoptionStats[] {
    return [...this.#features].map(([feature, f]) => ({
      feature,
      uses: f.uses,
      users: f.users.count(),
      usersApproximate: f.users.approximate,
      firstSeen: iso(f.firstSeen),
      lastSeen: iso(f.lastSeen),
      actions: { ...f.actions },
    }));
  }
}
