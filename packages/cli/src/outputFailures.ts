import { Writable } from 'node:stream';
import { terminalText } from './terminalText.js';

type StreamName = 'stdout' | 'stderr';

/**
 * Write failures of the process's stdout and stderr (a full disk under `> file`, an I/O error).
 * Node emits them as 'error' events, and one unhandled ended the process with a stack trace:
 * `homing serve` logging to a full disk died, `projects create > /dev/full` lost the keys of the
 * project it made, `flush 2>/dev/full` left its lock and a sent batch unacknowledged. Now what
 * cannot be written is lost and the work goes on: a command says so on the other stream (if it
 * still works) and exits non-zero; a server keeps serving. EPIPE is no failure: a reader that
 * stopped early (`homing dead-letters | head`) has all it wanted.
 */
export class OutputFailures {
  private readonly failures = new Map<StreamName, NodeJS.ErrnoException>();
  /** Failures a command said itself (with what to do): not said again. */
  private readonly told = new Set<StreamName>();
  /** The command returned: failures from now on (a server's logs) are said when they happen. */
  private commandReturned = false;

  constructor(private readonly streams: Record<StreamName, NodeJS.WriteStream | Writable>) {}

  watch(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      this.streams[name].on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EPIPE' || this.failures.has(name)) return;
        this.failures.set(name, error);
        if (this.commandReturned) this.tell(name);
      });
    }
  }

  /** `stream` is one of the process's and its failure was said by the command (with a hint). */
  toldBy(stream: unknown): void {
    for (const name of ['stdout', 'stderr'] as const) if (this.streams[name] === stream) this.told.add(name);
  }

  /**
   * Called once the command returned: says each failure not said yet on the other stream, and
   * answers whether any write failed (the command's exit code then is not 0).
   */
  commandDone(): boolean {
    this.commandReturned = true;
    for (const name of this.failures.keys()) this.tell(name);
    return this.failures.size > 0;
  }

  private tell(name: StreamName): void {
    if (this.told.has(name)) return;
    this.told.add(name);
    const other = name === 'stdout' ? 'stderr' : 'stdout';
    if (this.failures.has(other)) return;
    const error = this.failures.get(name)!;
    const what =
      error.code === undefined || error.message.includes(error.code)
        ? error.message
        : `${error.code}: ${error.message}`;
    this.streams[other].write(
      `homing: writing to ${name} failed (${terminalText(what)}); what was written there is lost\n`,
    );
  }
}

/**
 * Writes `text` and answers the write's failure, if any (null once written). For output a user
 * cannot get again by running the command again (a new project's keys). A file's write (stdout
 * redirected to one) fails at once and says so on the next tick; a pipe's failure would come
 * later and is not waited for. A stream that is not a Node stream (a test's capture) answers null.
 */
export async function writeConfirmed(
  stream: { write(text: string): unknown },
  text: string,
): Promise<NodeJS.ErrnoException | null> {
  if (!(stream instanceof Writable)) {
    stream.write(text);
    return null;
  }
  let failed: NodeJS.ErrnoException | null = null;
  const onError = (error: NodeJS.ErrnoException): void => {
    failed ??= error;
  };
  stream.on('error', onError);
  try {
    stream.write(text, (error) => {
      if (error) failed ??= error;
    });
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    stream.off('error', onError);
  }
  return failed;
}

export const processOutput = new OutputFailures({ stdout: process.stdout, stderr: process.stderr });
