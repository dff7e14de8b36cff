/** Where `homing projects` looks for a server's store when told nothing: where `homing serve` keeps it. */
export const PROJECTS_DEFAULTS = {
  dataDir: './.homing',
  dataDirEnv: 'HOMING_DATA_DIR',
  databaseEnv: 'HOMING_DATABASE_URL',
} as const;
