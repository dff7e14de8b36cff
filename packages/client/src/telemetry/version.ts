/**
 * `$lib` and `$lib_version` of every event. A constant rather than a read of package.json, so
 * the browser build needs no JSON import; `version.test.ts` keeps it equal to package.json.
 */
export const LIB_NAME = '@homing/client';
export const LIB_VERSION = '0.1.0';
