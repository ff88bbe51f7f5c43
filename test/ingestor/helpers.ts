import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect as globalExpect, type ExpectStatic } from 'vitest'
import { startRedis, type RedisHandle, type RedisPersistence } from '../../harness/redis/index.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import { scanCborItem } from '../../protocol/cbor-scan.js'
import { FixtureWriter } from '../../fixture-file/index.js'
import { DEFAULT_MAX_DEPTH } from '../../protocol/frame.js'
import { peekFrame } from '../../protocol/peek.js'
import { startReplay, withSeq, type ReplayHandle, type ReplayOptions } from '../../replay/index.js'
import { runCli } from '../support/cli.js'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const realDataDir = resolve(repoRoot, 'test/data/real')
export const committedFixture = join(repoRoot, 'fixtures/generated.fixture.gz')

/**
 * The ingestor as built in dist/: its decode worker is a compiled file, so tests run the same
 * code users run (`npm test` builds first). Types come from the sources. Its `startIngestor`
 * runs without per-repo state unless a test asks for it (`repoState: true`): most suites check
 * the stream against the fixture frame by frame, which per-repo state withholds some of (`#sync`).
 */
export async function loadIngestor(): Promise<typeof import('../../ingestor/index.js')> {
  const ingestor = (await import(join(repoRoot, 'dist/ingestor/index.js'))) as typeof import('../../ingestor/index.js')
  return { ...ingestor, startIngestor: (options) => ingestor.startIngestor({ repoState: false, ...options }) }
}

/**
 * `firehose ingest ARGS` against an unreachable Redis (and relay, unless ARGS or ENV name one)
 * must be a usage error: exit 2, one stderr line matching `reason`. A run that got past option
 * validation would hang or exit 3, never 2. Concurrent tests pass their own `expect`.
 */
export async function expectIngestUsageError(args: readonly string[], env: Record<string, string>, reason: RegExp, expect: ExpectStatic = globalExpect): Promise<void> {
  const relay = args.includes('--relay') || 'RELAY_URL' in env ? [] : ['--relay', 'ws://127.0.0.1:1']
  const result = await runCli(['ingest', '--redis', 'redis://127.0.0.1:1', ...relay, ...args], { env })
  expect(result.code, result.stderr).toBe(2)
  expect(result.stderr.trim().split('\n')).toHaveLength(1)
  expect(result.stderr).toMatch(reason)
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ingestor-test-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Unique key names so tests never touch each other's (or production) keys. */
export function uniqueKeys(prefix = 'test:ingest'): { stream: string; cursorKey: string; dead: string } {
  const id = `${prefix}:${Date.now()}:${randomBytes(4).toString('hex')}`
  return { stream: `${id}:events`, cursorKey: `${id}:cursor`, dead: `${id}:events:dead` }
}

/** Real frames grouped by folder (each folder is one relay's sequence), in file order. */
export function realFrameGroups(): { name: string; files: string[]; frames: Buffer[] }[] {
  const groups = new Map<string, string[]>()
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.cbor')) {
        const group = relative(realDataDir, dirname(path))
        groups.set(group, [...(groups.get(group) ?? []), path])
      }
    }
  }
  walk(realDataDir)
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, files]) => {
      const sorted = files.sort()
      return { name, files: sorted.map((f) => relative(realDataDir, f)), frames: sorted.map((f) => readFileSync(f)) }
    })
}

/** `count` real frames cycled, with seq rewritten to firstSeq, firstSeq+1, ... (byte-for-byte otherwise). */
export function sequencedRealFrames(count: number, firstSeq = 1): Uint8Array[] {
  const pool = realFrameGroups().flatMap((group) => group.frames)
  return Array.from({ length: count }, (_, i) => withSeq(pool[i % pool.length]!, firstSeq + i))
}

/**
 * A `#commit` frame whose header and body decode and whose `seq` is readable, but whose
 * `blocks` is not a CAR: the decoder dead-letters it (FRAME_BAD_CAR). Built from a real commit.
 */
export function malformedCommitFrame(seq: number): Uint8Array {
  const commit = realFrameGroups()
    .flatMap((group) => group.frames)
    .find((frame) => peekFrame(frame).t === '#commit')!
  const bodyStart = scanCborItem(commit, 0, DEFAULT_MAX_DEPTH)
  const body = dagCbor.decode<Record<string, unknown>>(commit.subarray(bodyStart))
  return Buffer.concat([commit.subarray(0, bodyStart), dagCbor.encode({ ...body, seq, blocks: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) })])
}

export async function writeFixture(path: string, frames: readonly Uint8Array[]): Promise<string> {
  const writer = await FixtureWriter.create(path, { source: 'test/ingestor' })
  let timeUs = Date.now() * 1000
  for (const bytes of frames) {
    if (!writer.write({ timeUs: timeUs++, bytes })) await writer.drain()
  }
  await writer.close()
  return path
}

/** A redis-server child on a free port with its own data dir (tests that kill or restart Redis). */
export function startOwnRedis(persistence: RedisPersistence = 'none'): Promise<RedisHandle> {
  return startRedis({ kind: 'process', persistence })
}

/**
 * A redis-server of the suite's own and an admin connection to it, for one describe block
 * (started in beforeAll, stopped in afterAll); read `.redis` and `.admin` inside tests.
 */
export function ownRedisForSuite(): { readonly redis: RedisHandle; readonly admin: Redis } {
  const suite = {} as { redis: RedisHandle; admin: Redis }
  beforeAll(async () => {
    suite.redis = await startOwnRedis()
    suite.admin = new Redis(suite.redis.url)
  })
  afterAll(async () => {
    suite.admin?.disconnect()
    await suite.redis?.stop()
  })
  return suite
}

export function replay(files: string[], options: Omit<ReplayOptions, 'files'> = {}): Promise<ReplayHandle> {
  return startReplay({ files, ...options })
}

export async function readStream(redisUrl: string, stream: string): Promise<string[][]> {
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()
  try {
    const entries = await redis.xrange(stream, '-', '+')
    return entries.map(([, fields]) => fields)
  } finally {
    redis.disconnect()
  }
}

export async function redisGet(redisUrl: string, key: string): Promise<string | null> {
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()
  try {
    return await redis.get(key)
  } finally {
    redis.disconnect()
  }
}

/** Runs an in-process ingestor until the stored cursor reaches lastSeq, then stops it gracefully. */
export async function ingestUntil(options: IngestorOptions, lastSeq: number, timeoutMs = 20_000): Promise<IngestorHandle> {
  const { startIngestor } = await loadIngestor()
  const handle = await startIngestor({ statusIntervalMs: 0, ...options })
  try {
    await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq, { what: `stored cursor ${lastSeq}`, timeoutMs })
  } finally {
    await handle.stop()
  }
  return handle
}

/** The legacy worker's positional read (PublicAppView redis-queue.ts). */
export function legacyParse(fields: string[]): { type: string; data: unknown; seq: number } {
  return { type: fields[1]!, data: JSON.parse(fields[3]!), seq: Number(fields[5]) }
}

/** A by-name read, as newer workers do. */
export function mapParse(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!
  return out
}
