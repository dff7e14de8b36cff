/**
 * Runs `fn` over `items` with at most `limit` calls under way at once, and resolves when all
 * have settled; the first rejection is passed on once the others are done. For reading many
 * small files: one after another, each awaited `open`/`read`/`close` waited for its own
 * thread-pool round trip, and a directory of 5 000 one-event segments took ~0.5 s to read.
 */
export async function eachAtMost<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < Math.min(limit, items.length); i++) workers.push(worker());
  await Promise.all(workers);
  if (failed !== null) throw (failed as { error: unknown }).error;
}
