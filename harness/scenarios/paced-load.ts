import type { ReplayRate } from '../../replay/index.js'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { LagSampler } from '../lag-sampler.js'
import { sleep } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { ScenarioContext, ScenarioOutcome } from './types.js'

/**
 * Shared body of the paced-load scenarios: the fixture looped at `rate` for `seconds` into the
 * ingestor, end-to-end lag sampled the whole time, then the stream checked. Fails when lag p99
 * reaches `defaultMaxLagP99Ms` (or HARNESS_MAX_LAG_P99_MS). The replay server's achieved rate is reported: on a loaded machine it
 * may fall short, which is not the ingestor's fault.
 */
export async function runPacedLoad(ctx: ScenarioContext, rate: ReplayRate, seconds: number, defaultMaxLagP99Ms: number): Promise<ScenarioOutcome> {
  const maxLagP99Ms = maxLagP99MsSetting(process.env.HARNESS_MAX_LAG_P99_MS, defaultMaxLagP99Ms)
  const fixture = await scenarioFixture()
  return withRig(ctx, { fixture, replay: { rate, loop: true } }, async (rig) => {
    await rig.expected() // decode before the clock starts
    const ingestor = await rig.startIngestor()
    await ingestor.waitForLog((record) => record.msg === 'relay connected', 60_000, 'the relay connection')
    const sampler = await LagSampler.start(rig.replay, rig.redis.url, rig.stream)
    const started = performance.now()
    await sleep(seconds * 1000)
    rig.replay.pause()
    const elapsed = (performance.now() - started) / 1000
    const lag = sampler.stop()
    const status = rig.replay.status()
    const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 120_000, untilSeq: status.headSeq ?? 0 })
    return {
      stream,
      maxRssMb: rig.maxRssMb,
      checks: [...checks, check('lagP99Ms', lag.p99Ms !== null && lag.p99Ms < maxLagP99Ms, lag.p99Ms, `< ${maxLagP99Ms}`)],
      details: {
        seconds: Math.round(elapsed),
        published: status.framesPublished,
        publishedEventsPerSec: Math.round(status.framesPublished / elapsed),
        lagP50Ms: lag.p50Ms,
        lagMaxMs: lag.maxMs,
        lagSamples: lag.samples,
      },
    }
  })
}

/** HARNESS_MAX_LAG_P99_MS, when set, must be a positive number of ms: a typo would otherwise make every check pass (NaN) or fail. */
export function maxLagP99MsSetting(value: string | undefined, defaultMs: number): number {
  if (value === undefined || value.trim() === '') return defaultMs
  const ms = Number(value)
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new HarnessError(HarnessErrorCode.InvalidConfig, `HARNESS_MAX_LAG_P99_MS must be a positive number of milliseconds, got "${value}"`, { value })
  }
  return ms
}
