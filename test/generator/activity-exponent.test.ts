import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { activityStats } from '../../generator/activity-stats.js'
import { generateFixture } from '../../generator/index.js'
import { ActivitySampler } from '../../generator/world.js'
import { runCli } from '../support/cli.js'
import { generate, tempDir } from './helpers.js'

const SEED = 4242

/** Share of `draws` samples that went to the most sampled 1 % of the accounts drawn. */
function topShare(exponent: number, accounts: number, draws: number, seed: number): number {
  const sampler = new ActivitySampler(accounts, exponent)
  const random = new SeededRandom(seed)
  const counts = new Map<number, number>()
  for (let i = 0; i < draws; i++) {
    const account = sampler.sample(random)
    counts.set(account, (counts.get(account) ?? 0) + 1)
  }
  const sorted = [...counts.values()].sort((a, b) => b - a)
  return sorted.slice(0, Math.ceil(sorted.length / 100)).reduce((sum, n) => sum + n, 0) / draws
}

// The verify bench needs fixtures shaped like the live firehose (a few very active accounts, a long tail seen once),
// so the exponent is an option; the committed fixtures were made with 0.7 and must keep their bytes.
describe('--activity-exponent: a larger exponent concentrates the writing on fewer accounts', () => {
  it('raises the top 1 % share of the sampler monotonically', () => {
    const shares = [0.4, 0.7, 1.0, 1.3, 1.6].map((exponent) => topShare(exponent, 20_000, 20_000, SEED))
    for (let i = 1; i < shares.length; i++) expect(shares[i], `seed ${SEED}: ${shares.join(', ')}`).toBeGreaterThan(shares[i - 1]!)
  })

  it('reaches the fixture: fewer distinct DIDs, a busier top DID and fewer frames from DIDs seen once', async () => {
    const tmp = await tempDir()
    try {
      const options = { events: 300, accounts: 300, medianRecords: 3, seed: SEED, workers: 0 }
      const flat = await generate(tmp.dir, 'flat.fixture.gz', { ...options, activityExponent: 0.4 })
      const skewed = await generate(tmp.dir, 'skewed.fixture.gz', { ...options, activityExponent: 1.6 })
      const [a, b] = [flat, skewed].map((g) => activityStats(g.frames.map((f) => f.bytes)))
      const context = `seed ${SEED}: ${JSON.stringify({ flat: a, skewed: b })}`
      expect(b!.dids, context).toBeLessThan(a!.dids)
      expect(b!.max, context).toBeGreaterThan(a!.max)
      expect(b!.onceShare, context).toBeLessThan(a!.onceShare)
      expect(skewed.manifest.meta, context).toMatchObject({ activityExponent: 1.6 })
    } finally {
      await tmp.cleanup()
    }
  }, 120_000)
})

describe('--activity-exponent defaults to 0.7: fixtures made before the option are reproduced byte for byte', () => {
  it('writes the same bytes with 0.7 given or left out, and does not name the default in the manifest', async () => {
    const tmp = await tempDir()
    try {
      const options = { events: 60, accounts: 20, medianRecords: 3, seed: SEED, workers: 0 }
      const implicit = await generate(tmp.dir, 'implicit.fixture.gz', options)
      const explicit = await generate(tmp.dir, 'explicit.fixture.gz', { ...options, activityExponent: 0.7 })
      expect(explicit.frames.map((f) => Buffer.from(f.bytes).toString('hex'))).toEqual(implicit.frames.map((f) => Buffer.from(f.bytes).toString('hex')))
      expect(implicit.manifest.meta).not.toHaveProperty('activityExponent')
    } finally {
      await tmp.cleanup()
    }
  }, 60_000)
})

describe('--activity-exponent is validated where the other generate options are: a bad value fails before anything is written', () => {
  it.for([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3.5])('the library refuses %s with a RangeError', async (exponent) => {
    await expect(generateFixture({ out: '/nonexistent/never-written.fixture.gz', events: 10, seed: SEED, activityExponent: exponent })).rejects.toThrow(RangeError)
  })

  it.for([
    [['--activity-exponent', '0'], {}],
    [['--activity-exponent', 'steep'], {}],
    [[], { FIREHOSE_ACTIVITY_EXPONENT: '4' }],
  ] as const)('the CLI exits 2 for %j %j, naming the flag', async ([args, env]) => {
    const result = await runCli(['fixture', 'generate', '--out', '/nonexistent/x.gz', '--events', '10', ...args], { env })
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toMatch(/--activity-exponent/)
  })
})
