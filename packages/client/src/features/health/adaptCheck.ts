import type { HealthCheckFunction, HealthCheckResult } from '@homing/resilience';

/** Design 003's result: a status word instead of `{ ok }`. */
export interface StatusCheckResult {
  status: 'healthy' | 'degraded' | 'unhealthy';
  message?: string;
  [field: string]: unknown;
}

export type ServiceCheck = (
  signal: AbortSignal,
) => HealthCheckResult | StatusCheckResult | PromiseLike<HealthCheckResult | StatusCheckResult>;

/**
 * Lets a check answer `{ status: 'healthy' | 'degraded' | 'unhealthy', message?, ...details }`
 * (design 003's shape) as well as the monitor's own `true`/`false`/`{ ok, degraded }`.
 */
export function adaptCheck(check: ServiceCheck): HealthCheckFunction {
  return async (signal) => toMonitorResult(await check(signal));
}

function toMonitorResult(result: HealthCheckResult | StatusCheckResult): HealthCheckResult {
  if (result === null || typeof result !== 'object' || 'ok' in result || !('status' in result)) {
    return result as HealthCheckResult;
  }
  const { status, message, ...details } = result;
  const text = typeof message === 'string' ? message : undefined;
  const hasDetails = Object.keys(details).length > 0;
  switch (status) {
    case 'healthy':
      return { ok: true, ...(hasDetails ? { details } : {}) };
    case 'degraded':
      return {
        ok: true,
        degraded: true,
        ...(text === undefined ? {} : { message: text }),
        ...(hasDetails ? { details } : {}),
      };
    case 'unhealthy':
      return {
        ok: false,
        message: text ?? 'the check reported unhealthy',
        ...(hasDetails ? { details } : {}),
      };
    default:
      return { ok: false, message: `the check returned an unknown status ${JSON.stringify(String(status))}` };
  }
}
