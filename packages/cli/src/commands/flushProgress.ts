import { terminalText } from '../terminalText.js';
import type { CommandIo } from './outboxCommand.js';
import { formatDuration } from './outboxCommand.js';

/** The widest bar; a narrower terminal gets a narrower one (a line wider than it wraps, and each redraw scrolls). */
const BAR_WIDTH = 30;

/** Narrower than this, the bar is left out and only the counts are redrawn. */
const MIN_BAR_WIDTH = 5;

/**
 * A terminal that takes `\r` and escape sequences: TERM=dumb (Emacs' shell, some CI consoles)
 * shows them as text, so it gets the plain lines written without a terminal.
 */
function redrawsInPlace(stream: CommandIo['stderr']): boolean {
  return stream.isTTY === true && process.env['TERM'] !== 'dumb';
}

/** Without a terminal, a line at least this often while events are sent (and at each tenth). */
const LINE_EVERY_MS = 5_000;

/**
 * Shows progress on stderr: a bar redrawn in place on a TTY, as wide as the terminal allows (up
 * to 30 columns); otherwise (TERM=dumb too) a plain line for the first
 * batch, each tenth of the total passed, every 5 s, and the last one (a line per batch made 200
 * lines of a 20 000-event flush in a CI log).
 */
export class Progress {
  private done = 0;
  /** Without a terminal: the tenth of the total the last line reached, and when it was written. */
  private lineTenth = -1;
  private lineAtMs = 0;
  /** The bar is on the terminal's last line, unended (on a TTY). */
  private barShown = false;

  constructor(
    private readonly io: CommandIo,
    private readonly total: number,
  ) {}

  add(count: number): void {
    this.done += count;
    const total = Math.max(this.total, this.done);
    if (redrawsInPlace(this.io.stderr)) {
      this.barShown = true;
      const pct = total === 0 ? 100 : Math.floor((this.done / total) * 100);
      const counts = `${String(pct).padStart(3)}% ${this.done}/${total} events`;
      // Kept short of the last column: a line that fills it wraps on some terminals, and the
      // next `\r` then redraws one row down, scrolling at every batch.
      // A pty with no size reports 0 columns.
      const reported = this.io.stderr.columns;
      const columns = reported !== undefined && reported > 0 ? reported : 80;
      const width = Math.min(BAR_WIDTH, columns - 1 - counts.length - 3);
      if (width < MIN_BAR_WIDTH) {
        this.io.stderr.write(`\r${counts.slice(0, Math.max(0, columns - 1))}`);
        return;
      }
      const filled = total === 0 ? width : Math.round((this.done / total) * width);
      this.io.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${counts}`);
    } else {
      const tenth = total === 0 ? 10 : Math.floor((this.done / total) * 10);
      const now = performance.now();
      if (tenth === this.lineTenth && this.done < total && now - this.lineAtMs < LINE_EVERY_MS) return;
      this.lineTenth = tenth;
      this.lineAtMs = now;
      this.io.stderr.write(`flush: ${this.done}/${total} events sent\n`);
    }
  }

  /**
   * A failed attempt: without it a flush against a server that is down shows nothing until its
   * timeout, and looks hung.
   */
  failed(endpoint: string, reason: string, retryInMs: number | undefined): void {
    const next = retryInMs === undefined ? '' : `; next try in ${formatDuration(retryInMs)}`;
    // The endpoint's answer (and its name, saved in the outbox) printed as text, not as commands
    // to the terminal the bar is drawn on.
    this.note(`attempt to ${terminalText(endpoint)} failed: ${terminalText(reason)}${next}`);
  }

  /** Waiting for another process to let the delivery lock go: said, or the flush looks hung. */
  waiting(who: string, heartbeatAgeMs: number, upToMs: number): void {
    this.note(
      `the outbox is being delivered by ${who} (heartbeat ${formatDuration(heartbeatAgeMs)} ago); ` +
        `waiting up to ${formatDuration(upToMs)} for it to finish, then sending what is left`,
    );
  }

  /**
   * Every endpoint waits out an open circuit or a Retry-After an earlier run saved, and the flush
   * waits with it: said once per wait, or a flush with the default timeout printed nothing for
   * up to 30 s.
   */
  circuitWait(endpoint: string, why: 'circuit' | 'asked', waitMs: number): void {
    this.note(
      why === 'circuit'
        ? `the circuit for ${terminalText(endpoint)} is open after earlier failures; waiting ${formatDuration(waitMs)} for its next try (add --force to try now)`
        : `${terminalText(endpoint)} asked to be left alone for now; waiting ${formatDuration(waitMs)} as it asked (add --force to try now)`,
    );
  }

  end(): void {
    if (this.barShown) this.io.stderr.write('\n');
  }

  /**
   * A line of its own; on a TTY it replaces the bar, which the next batch draws again below it.
   * Ended there too: a note wider than the terminal wraps, and the bar's `\r` drawn over it
   * rewrote only its last row.
   */
  private note(line: string): void {
    if (redrawsInPlace(this.io.stderr)) {
      this.barShown = false;
      this.io.stderr.write(`\r\x1b[2K${line}\n`);
    } else this.io.stderr.write(`flush: ${line}\n`);
  }
}
