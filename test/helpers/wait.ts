/** What waitFor polls: a truthy value ends the wait and is returned. */
export type Check<T> = () => T | undefined | false | null | Promise<T | undefined | false | null>;

/**
 * Polls `check` in real time, every `everyMs`, until it gives a truthy value
 * (returned), or fails after `timeoutMs` naming `what`. For what a test cannot
 * await directly (another process, a fake server's record).
 */
export async function waitFor<T>(check: Check<T>, what = 'condition', timeoutMs = 5000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
