import { LogLinearHistogram } from './LogLinearHistogram.js';
import type { HistogramSummary, SparseHistogram } from './LogLinearHistogram.js';

/** Tags of a series: string, finite number or boolean values (undefined ones are left out). */
export type Tags = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Series {
  readonly metric: string;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly unit: string | undefined;
  readonly interval: LogLinearHistogram;
  lifetime: LogLinearHistogram | undefined;
}

/** What one series held over one interval. */
export interface IntervalSummary {
  readonly series: Series;
  readonly summary: HistogramSummary;
  readonly collapsedBelow: number;
  readonly histogram: SparseHistogram | undefined;
}

export interface RegistryLimits {
  readonly maxMetrics: number;
  readonly maxSeriesPerMetric: number;
  readonly maxSeries: number;
  readonly maxBins: number;
  readonly maxNameLength: number;
  readonly maxTags: number;
  readonly lifetimeSummaries: boolean;
  readonly includeHistogram: boolean;
}

export type RejectReason = 'name' | 'value' | 'tags' | 'mark' | 'field';

/** Where measurements go once the name or series budget is spent. */
export const OVERFLOW_METRIC = '$overflow';
const OVERFLOW_TAGS: Readonly<Record<string, string>> = Object.freeze({ $overflow: 'true' });
/** Larger values lose integer precision in the sum; they are rejected as bad input. */
export const MAX_VALUE = Number.MAX_SAFE_INTEGER;
const BAD_TAGS = 'tags must be an object of up to maxTags string/number/boolean values';
const UNREADABLE_TAGS = 'tags could not be read (a getter or Proxy trap threw)';
/** Maps, cache entries and the series object: an estimate added to the histograms' bytes. */
const SERIES_OVERHEAD_BYTES = 320;

interface TagCacheEntry {
  readonly series: Series;
  /** `series.interval`, held here too: one object fewer to reach on every measurement (see `record`). */
  readonly interval: LogLinearHistogram;
  /** The tag object's keys and values (in its own order) when first seen, to notice a change since. */
  readonly keys: readonly string[];
  readonly values: readonly unknown[];
  /** A frozen object cannot change: no need to compare it again. */
  readonly frozen: boolean;
}

interface Metric {
  readonly name: string;
  untagged: Series | undefined;
  readonly byKey: Map<string, Series>;
  readonly byObject: WeakMap<object, TagCacheEntry>;
  overflow: Series | undefined;
  /** The last tag object seen and its entry: a hot loop reusing one object skips the WeakMap. */
  lastTags: object | undefined;
  lastEntry: TagCacheEntry | undefined;
}

/**
 * Metric name + tag set → series, each with its interval histogram, within fixed bounds:
 * at most `maxSeries` series in all (plus one global overflow series), `maxSeriesPerMetric`
 * per name (past it, that name's `{ $overflow: 'true' }` series). The memory this holds is
 * therefore bounded whatever names and tags the app invents.
 *
 * The hot path is `record`: a Map lookup by name (skipped for the metric recorded last) and,
 * for tags, a WeakMap lookup by the tag object's identity whose values are compared with those
 * first seen (so a reused object is neither re-keyed nor mis-filed if it was changed). No
 * allocation once a series exists.
 */
export class MetricRegistry {
  readonly #metrics = new Map<string, Metric>();
  /** The metric recorded into last and its name: a process timing one metric skips the Map. */
  #lastName: unknown = undefined;
  #lastMetric: Metric | undefined = undefined;
  readonly #all: Series[] = [];
  readonly #limits: RegistryLimits;
  #globalOverflow: Series | undefined;
  readonly rejected: Record<RejectReason, number> = { name: 0, value: 0, tags: 0, mark: 0, field: 0 };
  /** Measurements filed under an overflow series because a budget was spent. */
  overflowed = 0;
  recorded = 0;
  /** Called the first time each reason rejects something (for one debug line, not one per call). */
  onFirstReject: (reason: RejectReason, detail: string) => void = () => {};

  constructor(limits: RegistryLimits) {
    this.#limits = limits;
  }

  /**
   * Records a value; answers the series, or undefined when the input was rejected (and counted).
   * Never throws: tags whose getter or Proxy trap throws are rejected as bad tags. Every tag read
   * happens before a metric or series is created, so a throw leaves nothing half made.
   *
   * In a loaded server this runs once per request between much other code, so what it costs is
   * mostly reaching objects that are no longer in the CPU's caches, one after another (the
   * samples of a CPU profile sit on the lines that first touch each one: the metrics Map, the
   * metric, its cache entry, the series, the histogram). Hence the shortcuts: the last metric
   * by name instead of the Map, and a tagged measurement reaches its histogram from the cache
   * entry, not through the series. Two apps served side by side in one process, one per build,
   * loaded at once: the first 3.1-3.5 % fewer of Homing's CPU samples per request (2 runs of
   * 2-3 processes x 15 s), the second another 6.5 % (3 processes).
   */
  record(name: unknown, value: unknown, tags: unknown, unit: string | undefined): Series | undefined {
    if (typeof value !== 'number' || !(value >= 0 && value <= MAX_VALUE)) {
      this.reject('value', `value ${String(value)} is not a finite number in [0, ${MAX_VALUE}]`);
      return undefined;
    }
    let metric: Metric | undefined;
    if (name === this.#lastName) metric = this.#lastMetric;
    else {
      metric = this.#metrics.get(name as string);
      if (metric !== undefined) {
        this.#lastName = name;
        this.#lastMetric = metric;
      }
    }
    let series: Series | undefined;
    let entry: TagCacheEntry | undefined;
    try {
      if (metric === undefined) series = this.#seriesOfNewMetric(name, tags, unit);
      else if (tags === undefined) series = metric.untagged ?? this.#untaggedOf(metric, unit);
      else if (
        tags === metric.lastTags &&
        (metric.lastEntry!.frozen || sameTags(metric.lastEntry!, tags as object))
      ) {
        entry = metric.lastEntry!;
      } else entry = this.#entryOfTags(metric, tags, unit);
    } catch {
      this.reject('tags', UNREADABLE_TAGS);
      return undefined;
    }
    if (entry !== undefined) {
      entry.interval.record(value);
      this.recorded++;
      return entry.series;
    }
    if (series === undefined) return undefined;
    series.interval.record(value);
    this.recorded++;
    return series;
  }

  /** Tags other than the metric's last tag object: the WeakMap by identity, else a new key. */
  #entryOfTags(metric: Metric, tags: unknown, unit: string | undefined): TagCacheEntry | undefined {
    const cached = typeof tags === 'object' && tags !== null ? metric.byObject.get(tags) : undefined;
    if (cached !== undefined && (cached.frozen || sameTags(cached, tags as object))) {
      metric.lastTags = tags as object;
      metric.lastEntry = cached;
      return cached;
    }
    return this.#taggedOf(metric, tags, unit);
  }

  reject(reason: RejectReason, detail: string): void {
    if (this.rejected[reason]++ === 0) this.onFirstReject(reason, detail);
  }

  /** Every series' interval summary (non-empty ones), then the intervals reset. */
  collect(): IntervalSummary[] {
    const out: IntervalSummary[] = [];
    for (const series of this.#all) {
      const h = series.interval;
      if (h.count === 0) continue;
      out.push({
        series,
        summary: h.summary(),
        collapsedBelow: h.collapsedBelow,
        histogram: this.#limits.includeHistogram ? h.toSparse() : undefined,
      });
      if (this.#limits.lifetimeSummaries) {
        series.lifetime ??= new LogLinearHistogram(this.#limits.maxBins);
        series.lifetime.merge(h);
      }
      h.reset();
    }
    return out;
  }

  /**
   * Since start (or, without lifetime summaries, since the last flush) for one metric: every tag
   * set merged, or the one given. undefined when nothing was recorded under it.
   */
  summaryOf(name: unknown, tags?: unknown): HistogramSummary | undefined {
    const metric = this.#metrics.get(name as string);
    if (metric === undefined) return undefined;
    let series: Series[];
    if (tags === undefined) series = this.#all.filter((s) => s.metric === metric.name);
    else {
      let key: ReturnType<typeof tagKey>;
      try {
        key = tagKey(tags, this.#limits);
      } catch {
        return undefined;
      }
      const one = key === undefined ? undefined : metric.byKey.get(key.key);
      series = one === undefined ? [] : [one];
    }
    if (series.length === 0) return undefined;
    const merged = new LogLinearHistogram(this.#limits.maxBins);
    for (const s of series) {
      merged.merge(s.interval);
      if (s.lifetime !== undefined) merged.merge(s.lifetime);
    }
    return merged.count === 0 ? undefined : merged.summary();
  }

  memory(): { metrics: number; series: number; bytes: number; maxBytes: number } {
    let bytes = 0;
    for (const s of this.#all) {
      bytes += SERIES_OVERHEAD_BYTES + s.interval.bytes() + (s.lifetime?.bytes() ?? 0);
    }
    const perHistogram = 160 + this.#limits.maxBins * 8;
    const maxBytes =
      (this.#limits.maxSeries + 1) *
      (SERIES_OVERHEAD_BYTES + perHistogram * (this.#limits.lifetimeSummaries ? 2 : 1));
    return { metrics: this.#metrics.size, series: this.#all.length, bytes, maxBytes };
  }

  #seriesOfNewMetric(name: unknown, tags: unknown, unit: string | undefined): Series | undefined {
    if (typeof name !== 'string' || name.length === 0 || name.length > this.#limits.maxNameLength) {
      this.reject('name', `metric name must be a string of 1..${this.#limits.maxNameLength} characters`);
      return undefined;
    }
    // Read (and copied) before anything is created: a getter that throws leaves no trace.
    const read = tags === undefined ? undefined : readTags(tags, this.#limits);
    if (read === null) {
      this.reject('tags', BAD_TAGS);
      return undefined;
    }
    if (this.#metrics.size >= this.#limits.maxMetrics || this.#all.length >= this.#limits.maxSeries) {
      return this.#overflowGlobal();
    }
    const metric: Metric = {
      name,
      untagged: undefined,
      byKey: new Map(),
      byObject: new WeakMap(),
      overflow: undefined,
      lastTags: undefined,
      lastEntry: undefined,
    };
    this.#metrics.set(name, metric);
    return read === undefined
      ? this.#untaggedOf(metric, unit)
      : this.#taggedOf(metric, tags, unit, read)?.series;
  }

  #untaggedOf(metric: Metric, unit: string | undefined): Series {
    const series = this.#newSeries(metric, undefined, unit);
    if (series === undefined) return this.#overflowOf(metric, unit);
    metric.untagged = series;
    return series;
  }

  #taggedOf(
    metric: Metric,
    tags: unknown,
    unit: string | undefined,
    read: ReadTags | null = readTags(tags, this.#limits),
  ): TagCacheEntry | undefined {
    if (read === null) {
      this.reject('tags', BAD_TAGS);
      return undefined;
    }
    const { normal, seen } = read;
    let series = metric.byKey.get(normal.key);
    if (series === undefined) {
      series = this.#newSeries(metric, normal.tags, unit);
      if (series === undefined) series = this.#overflowOf(metric, unit);
      else metric.byKey.set(normal.key, series);
    }
    const entry: TagCacheEntry = { series, interval: series.interval, ...seen };
    metric.byObject.set(tags as object, entry);
    metric.lastTags = tags as object;
    metric.lastEntry = entry;
    return entry;
  }

  #newSeries(metric: Metric, tags: Series['tags'], unit: string | undefined): Series | undefined {
    const perMetric = metric.byKey.size + (metric.untagged === undefined ? 0 : 1);
    if (perMetric >= this.#limits.maxSeriesPerMetric || this.#all.length >= this.#limits.maxSeries)
      return undefined;
    const series: Series = {
      metric: metric.name,
      tags,
      unit,
      interval: new LogLinearHistogram(this.#limits.maxBins),
      lifetime: undefined,
    };
    this.#all.push(series);
    return series;
  }

  #overflowOf(metric: Metric, unit: string | undefined): Series {
    this.overflowed++;
    if (metric.overflow !== undefined) return metric.overflow;
    if (this.#all.length >= this.#limits.maxSeries) return this.#overflowGlobal();
    const series: Series = {
      metric: metric.name,
      tags: OVERFLOW_TAGS,
      unit,
      interval: new LogLinearHistogram(this.#limits.maxBins),
      lifetime: undefined,
    };
    this.#all.push(series);
    metric.overflow = series;
    return series;
  }

  #overflowGlobal(): Series {
    this.overflowed++;
    if (this.#globalOverflow === undefined) {
      this.#globalOverflow = {
        metric: OVERFLOW_METRIC,
        tags: undefined,
        unit: undefined,
        interval: new LogLinearHistogram(this.#limits.maxBins),
        lifetime: undefined,
      };
      // Counted in collect() and memory() like any series, but outside the maxSeries budget.
      this.#all.push(this.#globalOverflow);
    }
    return this.#globalOverflow;
  }
}

interface ReadTags {
  readonly normal: { key: string; tags: Record<string, string> };
  readonly seen: { keys: string[]; values: unknown[]; frozen: boolean };
}

/** The tags' key and the snapshot the cache compares with; null when not acceptable. May throw. */
function readTags(tags: unknown, limits: Pick<RegistryLimits, 'maxTags' | 'maxNameLength'>): ReadTags | null {
  const normal = tagKey(tags, limits);
  return normal === undefined ? null : { normal, seen: snapshot(tags as object) };
}

function sameTags(entry: TagCacheEntry, tags: object): boolean {
  const { keys, values } = entry;
  let i = 0;
  for (const k in tags) {
    if (k !== keys[i] || (tags as Record<string, unknown>)[k] !== values[i]) return false;
    i++;
  }
  return i === keys.length;
}

function snapshot(tags: object): { keys: string[]; values: unknown[]; frozen: boolean } {
  const keys: string[] = [];
  const values: unknown[] = [];
  for (const k in tags) {
    keys.push(k);
    values.push((tags as Record<string, unknown>)[k]);
  }
  // Frozen, and so are its prototypes' enumerable keys as far as for-in sees: only plain objects qualify.
  const proto = Object.getPrototypeOf(tags);
  return { keys, values, frozen: Object.isFrozen(tags) && (proto === Object.prototype || proto === null) };
}

/**
 * The canonical key of a tag set (sorted keys, so `{a, b}` and `{b, a}` are one series) and its
 * normalised form; undefined when the tags are not acceptable.
 */
export function tagKey(
  tags: unknown,
  limits: Pick<RegistryLimits, 'maxTags' | 'maxNameLength'>,
): { key: string; tags: Record<string, string> } | undefined {
  if (tags === null || typeof tags !== 'object' || Array.isArray(tags)) return undefined;
  const keys: string[] = [];
  for (const k in tags) {
    if ((tags as Record<string, unknown>)[k] !== undefined) keys.push(k);
  }
  if (keys.length > limits.maxTags) return undefined;
  keys.sort();
  const normal: Record<string, string> = {};
  let key = '';
  for (const k of keys) {
    const raw = (tags as Record<string, unknown>)[k];
    let value: string;
    if (typeof raw === 'string') value = raw;
    else if (typeof raw === 'boolean' || (typeof raw === 'number' && Number.isFinite(raw)))
      value = String(raw);
    else return undefined;
    if (k.length === 0 || k.length > limits.maxNameLength || value.length > limits.maxNameLength)
      return undefined;
    // defineProperty: a tag named "__proto__" is a key like any other.
    Object.defineProperty(normal, k, { value, enumerable: true, writable: true, configurable: true });
    key += `${k}\u0000${value}\u0001`;
  }
  return { key, tags: normal };
}
