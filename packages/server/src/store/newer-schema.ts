import { StoreError } from './errors.js';
import type { Migration } from './sqlite-migrations.js';

/**
 * Refuses a database that a newer Homing migrated past what this one knows. Opened anyway, this
 * version would write rows the newer schema does not expect (a column it fills, a table it
 * keeps in step), and the newer version, started again, would not know they are wrong.
 *
 * @param applied the versions in `schema_migrations`
 * @param known this version's migrations
 */
export function refuseNewerSchema(
  which: 'SQLite' | 'PostgreSQL',
  where: string,
  applied: Iterable<number>,
  known: readonly Migration[],
): void {
  let newest = 0;
  for (const m of known) newest = Math.max(newest, m.version);
  let highest = 0;
  for (const v of applied) highest = Math.max(highest, Number(v));
  if (highest <= newest) return;
  throw new StoreError(
    'migration',
    `the ${which} database ${where} was written by a newer Homing (schema v${highest}; this one knows up ` +
      `to v${newest}): run that version or newer. Nothing was changed`,
  );
}
