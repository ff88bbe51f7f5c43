import { IngestorError, IngestorErrorCode } from './errors.js'

/**
 * Test-only crash points (like jetstream's): FIREHOSE_CRASH_AT=<point>:<n> makes the process
 * SIGKILL itself the n-th time it reaches <point>, so tests can kill it at instants a signal
 * from outside cannot hit reliably. Points, in the order a batch passes them:
 * - `after-decode`: a batch is decoded, nothing of it is sent to Redis yet.
 * - `before-write`: the write script's arguments are built, nothing sent.
 * - `mid-batch`: the write was handed to the socket but its reply not read; Redis may or may
 *   not run it (alias `after-xadd-before-exec`, the MULTI/EXEC-era name).
 * - `after-write-before-ack`: Redis answered "applied", the in-memory cursor is not updated.
 * - `after-ack`: the in-memory cursor is updated.
 * - `mid-snapshot`: (--repo-state) a part of a repo snapshot is written, the rest of it not.
 */
export const CRASH_POINTS = ['after-decode', 'before-write', 'mid-batch', 'after-write-before-ack', 'after-ack'] as const
/** Reached only with --repo-state, while a resync writes a snapshot (every run reaches the others). */
export const RESYNC_CRASH_POINTS = ['mid-snapshot'] as const
export type CrashPoint = (typeof CRASH_POINTS)[number] | (typeof RESYNC_CRASH_POINTS)[number]
const ALL_POINTS: readonly CrashPoint[] = [...CRASH_POINTS, ...RESYNC_CRASH_POINTS]

const ALIASES: Record<string, CrashPoint> = { 'after-xadd-before-exec': 'mid-batch' }

export class CrashPoints {
  private readonly point: CrashPoint | null
  private readonly at: number
  private count = 0

  constructor(spec: string | null) {
    const parsed = spec === null || spec === '' ? null : parseCrashAt(spec)
    this.point = parsed?.point ?? null
    this.at = parsed?.at ?? 0
  }

  hit(point: CrashPoint): void {
    if (point !== this.point) return
    if (++this.count === this.at) process.kill(process.pid, 'SIGKILL')
  }
}

export function parseCrashAt(spec: string): { point: CrashPoint; at: number } {
  const match = /^([a-z-]+):(\d+)$/.exec(spec.trim())
  const name = match?.[1] ?? ''
  const point = ALIASES[name] ?? ALL_POINTS.find((p) => p === name)
  const at = Number(match?.[2])
  if (point === undefined || !Number.isSafeInteger(at) || at < 1) {
    throw new IngestorError(IngestorErrorCode.InvalidCrashPoint, `FIREHOSE_CRASH_AT must be <point>:<n> with n >= 1 and point one of ${ALL_POINTS.join(', ')}; got "${spec}"`, {
      spec,
    })
  }
  return { point, at }
}
