/**
 * Whether `work` settled (fulfilled or rejected) within `ms`; the timer is cleared either way.
 * It is not unref'd: what waits on it (a flush, a shutdown closing the outbox) must get its
 * answer before the process may end.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(settled, settled), expired]);
  } finally {
    clearTimeout(timer);
  }
}

const settled = (): true => true;
