import type { SeededRandom } from '../common/random.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import { resolveWhen, type FaultSpec } from './faults.js'

/** Faults waiting for their frame or timer, at most (each costs memory until it fires). */
export const MAX_PENDING_FAULTS = 10_000

/** Fires a fault; `applyAt` is the window index at which each client applies it (undefined: its next frame). */
export type FireFault = (spec: FaultSpec, applyAt: number | undefined) => void

/**
 * Turns fault specs into firings. `atFrame` faults fire when the timeline has published that
 * many frames and apply to each client right after that frame; `afterMs` faults fire on a
 * timer (from timeline start for plan faults, from injection for run-time ones) and apply at
 * each client's next frame boundary; faults with neither fire at start / at once.
 * Ranges are resolved with the seeded random source when the fault is added.
 */
export class FaultScheduler {
  private byFrame: { at: number; spec: FaultSpec }[] = []
  private beforeStart: { afterMs: number; spec: FaultSpec }[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private started = false

  constructor(
    private readonly random: SeededRandom,
    private readonly fire: FireFault,
  ) {}

  /** Frame count at which the next frame-triggered fault fires (Infinity when none). */
  get nextFrameTrigger(): number {
    return this.byFrame[0]?.at ?? Number.POSITIVE_INFINITY
  }

  get pending(): number {
    return this.byFrame.length + this.beforeStart.length + this.timers.size
  }

  /** Adds all of `specs` or, when they would exceed MAX_PENDING_FAULTS, none (REPLAY_BAD_FAULT). */
  addAll(specs: readonly FaultSpec[], framesPublished: number, runtime = false): void {
    if (this.pending + specs.length > MAX_PENDING_FAULTS) {
      throw new ReplayError(ReplayErrorCode.BadFault, `invalid fault: ${this.pending} faults are pending and at most ${MAX_PENDING_FAULTS} may be`, {
        pending: this.pending,
        adding: specs.length,
      })
    }
    for (const spec of specs) this.add(spec, framesPublished, runtime)
  }

  /** `runtime`: injected while running (timers count from now even before the timeline starts). */
  private add(spec: FaultSpec, framesPublished: number, runtime: boolean): void {
    const atFrame = resolveWhen(spec.atFrame, this.random)
    const afterMs = resolveWhen(spec.afterMs, this.random)
    if (atFrame !== undefined) {
      const entry = { at: atFrame, spec }
      const i = this.byFrame.findIndex((other) => other.at > atFrame)
      if (i < 0) this.byFrame.push(entry)
      else this.byFrame.splice(i, 0, entry)
      this.firePublished(framesPublished)
    } else if (!this.started && !runtime) {
      this.beforeStart.push({ afterMs: afterMs ?? 0, spec })
    } else {
      this.after(afterMs ?? 0, spec)
    }
  }

  /** The timeline started: time-triggered plan faults count from now. */
  start(): void {
    if (this.started) return
    this.started = true
    for (const { afterMs, spec } of this.beforeStart) this.after(afterMs, spec)
    this.beforeStart = []
  }

  /** Fires every frame-triggered fault due at this published count. */
  firePublished(framesPublished: number): void {
    while (this.byFrame.length > 0 && this.byFrame[0]!.at <= framesPublished) {
      const { at, spec } = this.byFrame.shift()!
      this.fire(spec, at)
    }
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.byFrame = []
  }

  private after(ms: number, spec: FaultSpec): void {
    if (ms === 0) {
      this.fire(spec, undefined)
      return
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      this.fire(spec, undefined)
    }, ms)
    this.timers.add(timer)
  }
}
