import type Database from 'better-sqlite3';
import { BacklogNotice, unexpandedEvents, type StoreNotice } from './sqlite-backlog-notice.js';
import { claimDataDir, type PidClaim } from './sqlite-server-pid.js';

/**
 * What a store tells the log when it opens a data directory for ingest: another live server on
 * it (`homing.pid`, see sqlite-server-pid.ts), and a backlog an earlier run left in the ingest
 * log (see BacklogNotice). Answers the claim, to release at close, and the backlog's notice, to
 * tell of expansion and to stop at close.
 */
export function startNotices(
  db: Database.Database,
  logDb: Database.Database,
  dataDir: string,
  onNotice: ((notice: StoreNotice) => void) | undefined,
): { pidClaim: PidClaim; backlog: BacklogNotice } {
  const notify = onNotice ?? ((): void => {});
  const pidClaim = claimDataDir(dataDir);
  const other = pidClaim.other;
  if (other !== null) {
    notify({
      level: 'warn',
      message:
        `another homing server (pid ${other.pid}) serves this SQLite data directory: both expand the same ` +
        "ingest log and wait for each other's write locks, and each one's key filter is switched off once " +
        'it meets events the other expanded (every new key then costs a lookup in SQLite, until a restart). ' +
        'Run one server per data directory, or PostgreSQL (--database) for several',
      fields: { otherPid: other.pid, dataDir },
    });
  }
  const backlog = new BacklogNotice(notify, (upTo) => unexpandedEvents(db, logDb, upTo).events);
  try {
    const { events, upToId } = unexpandedEvents(db, logDb);
    backlog.start(events, upToId);
  } catch {
    /* only a log line is lost; the worker expands the backlog in any case */
  }
  return { pidClaim, backlog };
}
