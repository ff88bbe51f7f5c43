import { existsSync } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateFixture, type GenerateOptions } from '../generator/index.js'

/**
 * The fixtures of bench/verify.ts, generated once (seeded, so the same bytes every time) and kept
 * in os.tmpdir() across runs: 30,000 signed events take minutes. Each lives in its own folder,
 * written under a temporary name and renamed when complete, so a killed run leaves no half file
 * behind (its partial folder is removed by the next run). Bump CACHE_VERSION when the generator's
 * output for a seed changes.
 */
const CACHE_VERSION = 1
const FILE = 'fixture.gz'

export type BenchFixtureOptions = Required<Pick<GenerateOptions, 'events' | 'accounts' | 'seed' | 'activityExponent' | 'medianRecords'>>

/**
 * The live network's shape in a short window, compressed: as many accounts as events and an
 * activity exponent of 1.1 (a few very active accounts, most DIDs seen once; docs/verify.md says
 * why, and the bench prints what the fixture holds).
 */
export const ZIPF_FIXTURE: BenchFixtureOptions = { events: 30_000, accounts: 40_000, seed: 20, activityExponent: 1.1, medianRecords: 60 }

/**
 * Frames the candidates run before they are timed, so the JIT is warm: other accounts (another
 * seed) than the measured fixture's, so no per-key state of the measured DIDs is warmed with it.
 */
export const WARMUP_FIXTURE: BenchFixtureOptions = { events: 1_000, accounts: 100, seed: 0x5eed, activityExponent: 0.7, medianRecords: 60 }

/** Path of the cached fixture (its DID documents beside it, FILE.did-docs.json), generated first if absent. */
export async function benchFixture(options: BenchFixtureOptions, log: (line: string) => void): Promise<string> {
  const name = `v${CACHE_VERSION}-n${options.events}-a${options.accounts}-e${options.activityExponent}-r${options.medianRecords}-s${options.seed}`
  const root = join(tmpdir(), 'firehose-bench-verify')
  const dir = join(root, name)
  if (existsSync(join(dir, FILE))) return join(dir, FILE)
  const partial = join(root, `${name}.partial`)
  await rm(partial, { recursive: true, force: true })
  await mkdir(partial, { recursive: true })
  log(`generating ${join(dir, FILE)} (${options.events} events, ${options.accounts} accounts, exponent ${options.activityExponent}, seed ${options.seed}): minutes, once`)
  const started = performance.now()
  await generateFixture({ ...options, out: join(partial, FILE) })
  await rename(partial, dir)
  log(`  generated in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  return join(dir, FILE)
}
