/** Health checks of the services an app depends on, and of Homing's own delivery, reported to the server. */
export { createHealthReporter, HealthReporter } from './HealthReporter.js';
export type { ServiceHealthReport } from './HealthReporter.js';
export { HEALTH_DEFAULTS } from './healthOptions.js';
export type { HealthReporterOptions } from './healthOptions.js';
export { HealthOptionError } from './errors.js';
export type { ServiceCheck, StatusCheckResult } from './adaptCheck.js';
