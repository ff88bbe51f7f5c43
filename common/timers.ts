/** What `setTimeout` returned (Node's Timeout, or a fake's id); only handed back to `clearTimeout` of the same Timers. */
export type TimerHandle = NodeJS.Timeout | number

/**
 * A clock and one-shot timers, injected into what keeps time (RelayClient's backoff and stall
 * checks, TcpProxy's latency and bandwidth, the replay's pacing, FaultLog's "still" lines) so
 * tests move time by hand (test/support/fake-timers.ts) while sockets stay real.
 */
export interface Timers {
  /** Milliseconds since the epoch. */
  now(): number
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** The process' own clock and timers: the default. */
export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
}
