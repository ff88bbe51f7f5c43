import { randomBytes } from 'node:crypto'
import { backfillInactiveKeyOf, backfillKeyOf, deadLetterStreamOf, repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { startReplay, type ReplayHandle, type ReplayOptions } from '../../replay/index.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { IngestorProcess, type IngestorProcessOptions } from '../ingestor-process.js'
import { startRedis, type RedisHandle, type RedisPersistence } from '../redis/index.js'
import { openRedisClient } from '../../common/redis-open.js'
import { redisCommand } from '../redis/redis-cli.js'
import { seqsLostToFaults } from '../../stream-check/replay-faults.js'
import { checkStream, expectedEntriesFromFixture, type StreamCheckResult } from '../../stream-check/stream-checker.js'
import { TcpProxy } from '../tcp-proxy.js'
import { waitUntil } from '../wait.js'
import type { ScenarioContext } from './types.js'

/**
 * The world one scenario runs in: its own Redis (or unique keys on an external one), a replay
 * server on a fixture, optional TCP proxies in front of Redis and the relay, and the ingestor
 * children it started. close() tears all of it down.
 */
export interface RigOptions {
  fixture: string
  persistence?: RedisPersistence
  replay?: Omit<ReplayOptions, 'files' | 'logger' | 'seed'>
  /** Put a TcpProxy between the ingestor and Redis (rig.redisProxy). */
  proxyRedis?: boolean
  /** Put a TcpProxy between the ingestor and the replay server (rig.relayProxy). */
  proxyRelay?: boolean
  /** Flags passed to every ingestor this rig starts. */
  ingestorArgs?: string[]
}

/** Expected entries per fixture, decoded once per process (20k events take seconds). */
const expectedCache = new Map<string, Promise<StreamEntry[]>>()

export class Rig {
  readonly stream: string
  readonly cursorKey: string
  readonly ingestors: IngestorProcess[] = []

  private constructor(
    readonly ctx: ScenarioContext,
    readonly options: RigOptions,
    readonly redis: RedisHandle,
    readonly replay: ReplayHandle,
    readonly redisProxy: TcpProxy | null,
    readonly relayProxy: TcpProxy | null,
  ) {
    // Unique per run, so an external Redis shared with others is never disturbed.
    const prefix = `scenario:${ctx.name}:${ctx.seed}:${randomBytes(4).toString('hex')}`
    this.stream = `${prefix}:events`
    this.cursorKey = `${prefix}:cursor`
  }

  static async start(ctx: ScenarioContext, options: RigOptions): Promise<Rig> {
    const redis = await startRedis({ persistence: options.persistence ?? 'none' })
    const cleanup: (() => Promise<void>)[] = [() => redis.stop()]
    try {
      // The timeline starts when the first ingestor subscribes (its startup time varies a lot on a loaded machine).
      const replay = await startReplay({
        start: 'first-client',
        ...options.replay,
        files: [options.fixture],
        seed: ctx.seed,
        logger: ctx.logger.child({ part: 'replay' }),
      })
      cleanup.push(() => replay.close())
      const redisProxy = options.proxyRedis === true ? await TcpProxy.start({ upstream: hostPort(redis.url) }) : null
      if (redisProxy) cleanup.push(() => redisProxy.close())
      const relayProxy = options.proxyRelay === true ? await TcpProxy.start({ upstream: hostPort(replay.url) }) : null
      return new Rig(ctx, options, redis, replay, redisProxy, relayProxy)
    } catch (err) {
      for (const step of cleanup.reverse()) await step().catch(() => {})
      throw err
    }
  }

  /** The Redis URL the ingestor is given (through the proxy when there is one). */
  get ingestorRedisUrl(): string {
    return this.redisProxy === null ? this.redis.url : this.redisProxy.proxiedUrl(this.redis.url)
  }

  get ingestorRelayUrl(): string {
    return this.relayProxy === null ? this.replay.url : this.relayProxy.proxiedUrl(this.replay.url)
  }

  /**
   * Starts `firehose ingest` on this rig. The first one connects without a cursor, like a
   * fresh production deployment (the timeline starts when it subscribes, so it misses
   * nothing). A later one with no cursor stored yet (killed before its first write) gets
   * `--cursor 0`, the relay's whole window; otherwise it resumes from the stored cursor.
   */
  async startIngestor(extra: Partial<IngestorProcessOptions> = {}): Promise<IngestorProcess> {
    const bootstrap = (await this.storedCursor()) === null && this.replay.status().framesPublished > 0 ? ['--cursor', '0'] : []
    const ingestor = IngestorProcess.start({
      relayUrl: this.ingestorRelayUrl,
      redisUrl: this.ingestorRedisUrl,
      stream: this.stream,
      cursorKey: this.cursorKey,
      ...extra,
      args: [...bootstrap, ...(this.options.ingestorArgs ?? []), ...(extra.args ?? [])],
    })
    this.ingestors.push(ingestor)
    return ingestor
  }

  /** The stored cursor, or null when unset or Redis is unreachable right now. */
  async storedCursor(): Promise<number | null> {
    const raw = await redisCommand(this.redis.url, ['GET', this.cursorKey]).catch(() => '')
    return raw === '' ? null : Number(raw)
  }

  async streamLength(): Promise<number> {
    return Number(await redisCommand(this.redis.url, ['XLEN', this.stream]).catch(() => '0'))
  }

  /** Seq of the newest stream entry (null when empty or Redis is unreachable right now). */
  async lastEntrySeq(): Promise<number | null> {
    try {
      const client = await openRedisClient(this.redis.url)
      try {
        const [newest] = await client.xrevrange(this.stream, '+', '-', 'COUNT', 1)
        const fields = newest?.[1] ?? []
        const at = fields.indexOf('seq')
        return at === -1 ? null : Number(fields[at + 1])
      } finally {
        client.disconnect()
      }
    } catch {
      return null
    }
  }

  async deadLetterLength(): Promise<number> {
    return Number(await redisCommand(this.redis.url, ['XLEN', deadLetterStreamOf(this.stream)]).catch(() => '0'))
  }

  /** Waits until the stored cursor reaches `seq`; fails early, with its log, if `ingestor` exits. */
  async waitForCursor(seq: number, ingestor: IngestorProcess, timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        if (ingestor.exit !== null) throw ingestor.failure(`exited before the cursor reached ${seq}`)
        const cursor = await this.storedCursor()
        return cursor !== null && cursor >= seq
      },
      { what: `cursor ${this.cursorKey} >= ${seq} (now ${await this.storedCursor()})`, timeoutMs, intervalMs: 50 },
    ).catch(async (err: unknown) => {
      // Re-read for the message: the `what` above was computed before waiting.
      if (err instanceof Error && ingestor.exit === null) err.message += ` (cursor now ${await this.storedCursor()})`
      throw err
    })
  }

  /**
   * Entries the fixture should produce up to `upToSeq` (default: one pass), minus what the
   * replay status says faults destroyed. With replay `loop`, later rounds repeat the fixture
   * with seqs shifted by its seq span, as the replay server does (replay/source.ts).
   */
  async expected(options: { upToSeq?: number } = {}): Promise<StreamEntry[]> {
    const lost = seqsLostToFaults(this.replay.status())
    let cached = expectedCache.get(this.options.fixture)
    if (cached === undefined) {
      cached = expectedEntriesFromFixture(this.options.fixture)
      expectedCache.set(this.options.fixture, cached)
    }
    const pass = await cached
    if (pass.length === 0) return []
    const span = pass[pass.length - 1]!.seq - pass[0]!.seq + 1
    const upTo = options.upToSeq ?? pass[pass.length - 1]!.seq
    const rounds = this.options.replay?.loop === true ? Math.max(1, Math.ceil((upTo - pass[0]!.seq + 1) / span)) : 1
    const out: StreamEntry[] = []
    for (let round = 0; round < rounds; round++) {
      for (const entry of pass) {
        const shifted = round === 0 ? entry : shiftSeq(entry, round * span)
        // Fixture seqs increase strictly, so filtering equals expectedEntriesFromFixture's skipSeqs.
        if (shifted.seq <= upTo && !lost.has(shifted.seq)) out.push(shifted)
      }
    }
    return out
  }

  /** The last seq the ingestor must reach for one full pass (fault losses excluded). */
  async lastExpectedSeq(): Promise<number> {
    const expected = await this.expected()
    const last = expected[expected.length - 1]
    if (last === undefined) throw new Error(`fixture ${this.options.fixture} yields no entries`)
    return last.seq
  }

  async check(options: { upToSeq?: number } = {}): Promise<StreamCheckResult> {
    return checkStream({ redisUrl: this.redis.url, stream: this.stream, expected: await this.expected(options) })
  }

  get maxRssMb(): number | null {
    const samples = this.ingestors.map((i) => i.maxRssMb).filter((rss): rss is number => rss !== null)
    return samples.length === 0 ? null : Math.max(...samples)
  }

  async close(): Promise<void> {
    for (const ingestor of this.ingestors) await ingestor.kill9()
    await this.relayProxy?.close()
    await this.redisProxy?.close()
    await this.replay.close()
    if (this.redis.kind === 'external') {
      const keys = [this.stream, deadLetterStreamOf(this.stream), this.cursorKey, repoStateKeyOf(this.stream), snapshotProgressKeyOf(this.stream), backfillKeyOf(this.stream), backfillInactiveKeyOf(this.stream)]
      await this.redis.cli('DEL', ...keys).catch(() => {})
    }
    await this.redis.stop()
  }
}

/** The entry a looped replay round produces: same event, seq (also inside data) shifted. */
function shiftSeq(entry: StreamEntry, by: number): StreamEntry {
  const seq = entry.seq + by
  return { type: entry.type, seq, data: JSON.stringify({ ...(JSON.parse(entry.data) as object), seq }) }
}

function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port) }
}

/** Runs `body` with a rig and always closes it. */
export function withRig<T>(ctx: ScenarioContext, options: RigOptions, body: (rig: Rig) => Promise<T>): Promise<T> {
  return withStarted(Rig.start(ctx, options), body)
}

/** Runs `body` with whatever `starting` starts (a rig), and always closes it. */
export async function withStarted<R extends { close(): Promise<void> }, T>(starting: Promise<R>, body: (started: R) => Promise<T>): Promise<T> {
  const started = await starting
  try {
    return await body(started)
  } finally {
    await started.close()
  }
}
