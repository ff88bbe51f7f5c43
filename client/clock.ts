/** Wall-clock time in whole microseconds since the epoch, with sub-millisecond resolution. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000)
}
