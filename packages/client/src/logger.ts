/** Where the client's debug output goes. Silent by default: failures never print unless asked. */
export interface Logger {
  debug(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug() {}, warn() {}, error() {} };

/** The logger `HOMING_DEBUG=1` turns on. */
export function consoleLogger(prefix = '[homing]'): Logger {
  return {
    debug: (message, details) => console.debug(prefix, message, details ?? ''),
    warn: (message, details) => console.warn(prefix, message, details ?? ''),
    error: (message, details) => console.error(prefix, message, details ?? ''),
  };
}
