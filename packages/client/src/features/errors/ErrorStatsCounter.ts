import type { ErrorStats, Severity } from './types.js';

const MAX_TYPES = 100;
const OTHER = '(other)';

/** Running totals behind `getStats()`; fixed size whatever the app throws. */
export class ErrorStatsCounter {
  private total = 0;
  private suppressed = 0;
  private readonly bySeverity: Record<Severity, number> = {
    debug: 0,
    info: 0,
    warning: 0,
    error: 0,
    fatal: 0,
  };
  private readonly byType = new Map<string, number>();
  private recoveryAttempts = 0;
  private recovered = 0;

  capture(severity: Severity, type: string, sent: boolean): void {
    this.total++;
    if (!sent) this.suppressed++;
    this.bySeverity[severity]++;
    const key = this.byType.has(type) || this.byType.size < MAX_TYPES ? type : OTHER;
    this.byType.set(key, (this.byType.get(key) ?? 0) + 1);
  }

  recovery(recovered: boolean): void {
    this.recoveryAttempts++;
    if (recovered) this.recovered++;
  }

  snapshot(uniqueGroups: number): ErrorStats {
    return {
      totalErrors: this.total,
      uniqueGroups,
      suppressed: this.suppressed,
      bySeverity: { ...this.bySeverity },
      byType: Object.fromEntries(this.byType),
      recoveryAttempts: this.recoveryAttempts,
      recovered: this.recovered,
      recoveryRate: this.recoveryAttempts === 0 ? 0 : this.recovered / this.recoveryAttempts,
    };
  }
}
