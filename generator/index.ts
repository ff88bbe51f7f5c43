import { writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { basename } from 'node:path'
import { SeededRandom } from '../common/random.js'
import { FixtureWriter, type FixtureManifest } from '../fixture-file/index.js'
import { DEFAULT_EVENTS_PER_SECOND, DEFAULT_MEDIAN_RECORDS } from './mix.js'
import type { PlanOptions } from './plan-types.js'
import type { ShardFrame } from './shard.js'
import { inThreadShard, workerShard, type ShardHost } from './shard-host.js'
import { DEFAULT_ACTIVITY_EXPONENT, MAX_ACTIVITY_EXPONENT } from './world.js'

export interface GenerateProgress {
  events: number
  total: number
}

export interface GenerateOptions {
  /** Fixture file to write (compression by extension); DID documents go to `${out}.did-docs.json`. */
  out: string
  events: number
  /** Accounts in the simulated network (default events / 20, at least 10). */
  accounts?: number
  /** Default: a fresh seed, recorded in the manifest meta. */
  seed?: number
  onProgress?: (progress: GenerateProgress) => void
  /** Worker threads (0: generate in this thread). Default: 0 below 2,000 events, else one per core (max 4). Output is identical either way. */
  workers?: number
  /** Time of the first event (default 2025-06-02T14:00:00.000Z). */
  startTime?: string
  /** seq of the first event (default 20,000,000,001, near the live relay's). */
  firstSeq?: number
  /** Mean event rate of the simulated relay (default 800/s). */
  eventsPerSecond?: number
  /** Median records per pre-existing repo (default 60); smaller repos make smaller frames (shallower MSTs). */
  medianRecords?: number
  /** Begin with one #info OutdatedCursor frame (no seq). Off by default: it is not part of a live stream. */
  infoFrame?: boolean
  /**
   * Every repo starts in the fixture: an existing account's first event follows a commit creating
   * its whole pre-existing repo (since null, every record a create, as a PDS's first commit after
   * an account moves in), so each repo can be rebuilt from the frames alone (the replay's getRepo).
   * Off by default: existing accounts' repos then predate the fixture, as on the live network.
   */
  fromCreation?: boolean
  /**
   * Skew of who writes: the i-th most active account acts in proportion to 1 / i^activityExponent
   * (default 0.7; 0 < e <= 3). ~1.1 with about as many accounts as events: a few very active
   * accounts, most accounts seen once (docs/generator.md).
   */
  activityExponent?: number
}

export const didDocsPathFor = (out: string): string => `${out}.did-docs.json`

/** Events generated per round: bounds memory (frames of one round in flight, plus one round ahead). */
const ROUND_EVENTS = 1000

/** Generates a deterministic fixture of signed, verifiable firehose frames. Same options and seed: same bytes. */
export async function generateFixture(options: GenerateOptions): Promise<FixtureManifest> {
  const plan = resolvePlan(options)
  const workers = options.workers ?? (plan.events < 2000 ? 0 : Math.min(4, availableParallelism()))
  const shards: ShardHost[] = workers === 0 ? [await inThreadShard(plan)] : Array.from({ length: workers }, (_, i) => workerShard(plan, i, workers))
  const didDocs = didDocsPathFor(options.out)
  try {
    const writer = await FixtureWriter.create(options.out, {
      source: 'appview-firehose generator',
      createdAt: new Date(plan.startTimeMs).toISOString(),
      // The exponent is named only when it is not the default, so fixtures made before the option keep their bytes.
      meta: {
        generator: 'appview-firehose',
        seed: plan.seed,
        accounts: plan.accounts,
        ...(plan.activityExponent === DEFAULT_ACTIVITY_EXPONENT ? {} : { activityExponent: plan.activityExponent }),
        didDocs: basename(didDocs),
      },
    })
    try {
      const round = (end: number): Promise<ShardFrame[]> => {
        const frames = Promise.all(shards.map((s) => s.runUntil(end))).then(mergeByIndex)
        // Awaited after the current round is written; until then a failure must not count as unhandled.
        frames.catch(() => undefined)
        return frames
      }
      // One round is generated while the previous one is written.
      let ahead = round(Math.min(ROUND_EVENTS, plan.events))
      for (let done = 0; done < plan.events;) {
        const frames = await ahead
        done += frames.length
        if (done < plan.events) ahead = round(Math.min(done + ROUND_EVENTS, plan.events))
        for (const frame of frames) {
          if (!writer.write({ timeUs: frame.receivedUs, bytes: frame.bytes })) await writer.drain()
        }
        options.onProgress?.({ events: done, total: plan.events })
      }
    } catch (err) {
      await writer.abort()
      throw err
    }
    const docs = await shards[0]!.didDocuments()
    await writeFile(didDocs, JSON.stringify(docs, null, 2) + '\n')
    return await writer.close()
  } finally {
    await Promise.all(shards.map((s) => s.close()))
  }
}

function resolvePlan(options: GenerateOptions): PlanOptions {
  if (!Number.isSafeInteger(options.events) || options.events < 1) throw new RangeError(`events must be a positive integer, got ${options.events}`)
  const accounts = options.accounts ?? Math.max(10, Math.round(options.events / 20))
  if (!Number.isSafeInteger(accounts) || accounts < 2) throw new RangeError(`accounts must be an integer >= 2, got ${accounts}`)
  const startTimeMs = Date.parse(options.startTime ?? '2025-06-02T14:00:00.000Z')
  if (Number.isNaN(startTimeMs)) throw new RangeError(`startTime is not a date: ${options.startTime}`)
  const activityExponent = options.activityExponent ?? DEFAULT_ACTIVITY_EXPONENT
  if (!Number.isFinite(activityExponent) || activityExponent <= 0 || activityExponent > MAX_ACTIVITY_EXPONENT) {
    throw new RangeError(`activityExponent must be a number above 0 and at most ${MAX_ACTIVITY_EXPONENT}, got ${options.activityExponent}`)
  }
  return {
    seed: (options.seed ?? SeededRandom.freshSeed()) >>> 0,
    events: options.events,
    accounts,
    startTimeMs,
    firstSeq: options.firstSeq ?? 20_000_000_001,
    eventsPerSecond: options.eventsPerSecond ?? DEFAULT_EVENTS_PER_SECOND,
    medianRecords: options.medianRecords ?? DEFAULT_MEDIAN_RECORDS,
    infoFrame: options.infoFrame ?? false,
    fromCreation: options.fromCreation ?? false,
    activityExponent,
  }
}

/** Each shard's frames are already in index order; together they cover the round exactly once. */
function mergeByIndex(perShard: ShardFrame[][]): ShardFrame[] {
  return perShard.flat().sort((a, b) => a.index - b.index)
}
