export interface ShutdownLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The signals that shut down gracefully. SIGHUP too: a server started from a terminal or an ssh
 * session gets it when that session closes, and Node's default for it is to die at once (exit
 * 129), resetting the requests in flight.
 */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * A signal this soon after the first is the same one delivered twice, not an operator asking
 * again, ms. Ctrl-C on `npm start` reaches node twice 6-11 ms apart (the terminal signals the whole
 * foreground group and npm forwards it to its child), as does a kill of the whole process group
 * (systemd's default): each forced an exit that reset the requests in flight. A person pressing
 * Ctrl-C again because shutdown takes too long does so well after a second.
 */
export const REPEATED_SIGNAL_MS = 1000;

/**
 * On SIGTERM, SIGINT or SIGHUP, shuts the server down gracefully (`close`), then lets the
 * process exit with code 0 (1 if closing failed). A second signal at least `REPEATED_SIGNAL_MS`
 * after the first exits at once with 130, for an operator who does not want to wait; one sooner
 * is the first delivered twice and changes nothing. Answers a function removing the handlers.
 */
export function shutdownOnSignals(
  target: { close(): Promise<void> },
  logger: ShutdownLogger,
  exit: (code: number) => void = (code) => process.exit(code),
  now: () => number = () => performance.now(),
): () => void {
  let firstAtMs: number | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstAtMs !== null) {
      if (now() - firstAtMs < REPEATED_SIGNAL_MS) {
        logger.info(
          { signal },
          'signal repeated at once (the same one delivered twice): still shutting down',
        );
        return;
      }
      logger.info({ signal }, 'second signal: exiting without waiting');
      exit(130);
      return;
    }
    firstAtMs = now();
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    target.close().then(
      () => {
        logger.info({}, 'shut down');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SHUTDOWN_SIGNALS) process.off(signal, onSignal);
  };
}
