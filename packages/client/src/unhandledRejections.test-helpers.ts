import { afterEach, beforeEach } from 'vitest';

/**
 * The reasons of the unhandled rejections each test of the describe block it is called in made,
 * emptied before each test (a listener is on `unhandledRejection` meanwhile, so none ends the run).
 */
export function useUnhandledRejections(): readonly unknown[] {
  const unhandled: unknown[] = [];
  const listener = (reason: unknown): void => void unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', listener);
  });
  afterEach(() => {
    process.off('unhandledRejection', listener);
  });
  return unhandled;
}
