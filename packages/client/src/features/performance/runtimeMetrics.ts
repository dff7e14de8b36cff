/**
 * Platform metrics (web vitals in a page, event loop and memory in Node) behind one small
 * interface, so the tracker never checks which platform it is on. The platform adapters are
 * loaded with dynamic imports: Node never loads `web-vitals`, and a page never runs the Node
 * adapter (which itself reaches `node:perf_hooks` only through a specifier bundlers leave alone).
 */
export interface RuntimeMetricsContext {
  /** Sends one `$performance` event of this kind (e.g. a web vital as it is reported). */
  report(kind: string, properties: Record<string, unknown>): void;
  /** How often to sample what must be sampled (heap, RSS). */
  readonly sampleIntervalMs: number;
  readonly logger: { debug(message: string, details?: Record<string, unknown>): void };
}

export interface RuntimeMetricsSource {
  /** Read at every flush; what it answers goes out as a `$performance` event of kind 'runtime'. */
  collect?(): Record<string, unknown> | undefined;
  /** Latest values to show locally (`getRuntimeMetrics()`). */
  snapshot?(): Record<string, unknown>;
  /** Stops timers and listeners. */
  close(): void;
}

export type RuntimeMetricsFactory = (
  context: RuntimeMetricsContext,
) => RuntimeMetricsSource | Promise<RuntimeMetricsSource>;

export type RuntimeName = 'browser' | 'node' | 'other';

/**
 * Same rule as the client's platform detection: a page (window and document) wins over a
 * `process` shim. Kept here because `platform/detect.ts` imports the Node platform statically.
 */
export function runtimeName(g: Record<string, any> = globalThis): RuntimeName {
  if (
    typeof g.window === 'object' &&
    g.window !== null &&
    typeof g.document === 'object' &&
    g.document !== null
  ) {
    return 'browser';
  }
  if (typeof g.process?.versions?.node === 'string') return 'node';
  return 'other';
}

/** The factory 'auto' picks for the platform, loaded only when it is needed. */
export async function autoRuntimeMetrics(context: RuntimeMetricsContext): Promise<RuntimeMetricsSource> {
  switch (runtimeName()) {
    case 'browser': {
      const { webVitalsMetrics } = await import('./webVitalsMetrics.js');
      return webVitalsMetrics(context);
    }
    case 'node': {
      const { nodeRuntimeMetrics } = await import('./nodeRuntimeMetrics.js');
      return nodeRuntimeMetrics(context);
    }
    default:
      return { close() {} };
  }
}
