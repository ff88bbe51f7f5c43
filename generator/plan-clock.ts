import type { SeededRandom } from '../common/random.js'

/** The simulated relay's clock: when each event is sequenced and when a consumer receives it. */
export class PlanClock {
  /** Sequencing time of the current event, µs since the epoch. */
  nowUs: number
  /** The fixture's start, µs: pre-existing records are older. */
  readonly startUs: number
  private lastReceivedUs = 0

  constructor(
    private readonly random: SeededRandom,
    startTimeMs: number,
    private readonly eventsPerSecond: number,
  ) {
    this.nowUs = startTimeMs * 1000
    this.startUs = this.nowUs
  }

  /** Moves on to the next event's time. */
  advance(): void {
    // Poisson arrivals at the configured mean rate; at least 1 µs apart.
    const gapUs = (-Math.log(1 - this.random.next()) / this.eventsPerSecond) * 1e6
    this.nowUs += Math.max(1, Math.round(gapUs))
  }

  /** When a consumer receives the current event. */
  received(): number {
    // Relay-to-consumer latency of 20-120 ms, never reordering frames.
    this.lastReceivedUs = Math.max(this.lastReceivedUs + 1, this.nowUs + this.random.int(20_000, 120_000))
    return this.lastReceivedUs
  }
}
