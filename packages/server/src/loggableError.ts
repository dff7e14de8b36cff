/**
 * An error's name, code, message and stack: what an operator needs. Never the whole object: a
 * driver's error carries fields such as PostgreSQL's `detail` ("Key (distinct_id)=(…)"), and a
 * cause chain, that can quote a row. Messages here are the stores' own and the databases'.
 */
export function loggableError(err: unknown): Record<string, string> {
  if (!(err instanceof Error)) return { type: typeof err };
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    message: err.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err.stack === undefined ? {} : { stack: err.stack }),
  };
}
