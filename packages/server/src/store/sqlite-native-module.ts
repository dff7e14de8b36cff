import { StoreError } from './errors.js';

/**
 * Whether opening a database failed because better-sqlite3's compiled addon could not be
 * loaded, not because of the file. better-sqlite3 loads the addon lazily, inside its first
 * `new Database()`, so these failures arrive where a damaged or unreadable database would, and
 * the damage advice (move the database aside, restore a backup) would be wrong twice over: the
 * files are fine, and there may be none yet.
 *
 * - `Could not locate the bindings file`: the addon was never built (its install script did not
 *   run: pnpm without `onlyBuiltDependencies`, `--ignore-scripts`, npm's `allowScripts`).
 * - `ERR_DLOPEN_FAILED`: built, but not loadable here, e.g. for another Node version
 *   (`NODE_MODULE_VERSION` mismatch), another platform, or a truncated file.
 */
export function isNativeModuleFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_DLOPEN_FAILED') return true;
  const message = err instanceof Error ? err.message : '';
  return (
    /Could not locate the bindings file/.test(message) ||
    /NODE_MODULE_VERSION/.test(message) ||
    (code === 'MODULE_NOT_FOUND' && /better_sqlite3\.node/.test(message))
  );
}

/** The StoreError for an addon failure: what failed, the loader's own words, and the fix. */
export function nativeModuleError(err: unknown): StoreError {
  const message = err instanceof Error ? err.message : String(err);
  return new StoreError(
    'data-dir',
    `the better-sqlite3 native module could not be loaded (${message}). The database files are not ` +
      'the problem: do not move them. Rebuild the module for this Node.js with `npm rebuild better-sqlite3` ' +
      "(its install script must be allowed to run: pnpm's onlyBuiltDependencies, npm's allowScripts, " +
      'no --ignore-scripts), or use PostgreSQL with --database',
    { cause: err },
  );
}
