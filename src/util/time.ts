/** Waiting with a limit, shared by every layer (this folder imports nothing of ours). */

/**
 * Resolves with `promise`'s value, or with `fallback` once `ms` of real time
 * have passed (the timer never keeps the process alive). A late rejection is
 * ignored.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
  });
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
