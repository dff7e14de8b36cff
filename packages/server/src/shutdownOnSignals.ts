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
 * On SIGTERM, SIGINT or SIGHUP, shuts the server down gracefully (`close`), then lets the
 * process exit with code 0 (1 if closing failed). A second signal exits at once with 130, for an
 * operator who does not want to wait. Answers a function removing the handlers.
 */
export function shutdownOnSignals(
  target: { close(): Promise<void> },
  logger: ShutdownLogger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.info({ signal }, 'second signal: exiting without waiting');
      exit(130);
      return;
    }
    shuttingDown = true;
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
