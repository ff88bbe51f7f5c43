/** Resolves after ms (a tool's pause; the ingestor's own waits go through injected Timers, common/timers.ts). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` every intervalMs until it returns true (resolves true) or timeoutMs has passed
 * (resolves false). The one polling loop of the package: harness/wait.ts waitUntil() turns a
 * false into its timeout error, tools that report rather than fail (verify --wait) use it as is.
 * `check` may throw to abort at once.
 */
export async function pollUntil(check: () => boolean | Promise<boolean>, options: { timeoutMs: number; intervalMs?: number }): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await sleep(options.intervalMs ?? 20)
  }
}
