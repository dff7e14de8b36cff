import type { Breaker } from './Breaker.js';
import { ConfigError } from './errors.js';
import { checkInteger } from './validate.js';

/** Opens after `threshold` failures in a row; any success starts the count again. */
export class ConsecutiveBreaker implements Breaker {
  readonly threshold: number;
  private count = 0;

  constructor(threshold: number) {
    this.threshold = checkInteger('threshold', threshold, 1);
  }

  success(): void {
    this.count = 0;
  }

  failure(): boolean {
    return ++this.count >= this.threshold;
  }

  reset(): void {
    this.count = 0;
  }

  toJSON(): { kind: 'consecutive'; count: number } {
    return { kind: 'consecutive', count: this.count };
  }

  restore(state: unknown, option: string): void {
    const s = state as { kind?: unknown; count?: unknown } | null;
    if (s === null || typeof s !== 'object' || s.kind !== 'consecutive') {
      throw new ConfigError(option, 'is not the state of a ConsecutiveBreaker');
    }
    if (typeof s.count !== 'number' || !Number.isInteger(s.count) || s.count < 0) {
      throw new ConfigError(`${option}.count`, 'must be an integer >= 0');
    }
    this.count = s.count;
  }
}
