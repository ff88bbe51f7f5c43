import { createHash } from 'node:crypto'
import { startRedis } from '../harness/redis/index.js'
import { openRedisClient } from '../common/redis-open.js'
import { SeededRandom } from '../common/random.js'
import { encodeRepoState } from '../repo-sync/repo-state-codec.js'
import { TID_ALPHABET } from '../repo-sync/tid.js'
import { cidV1ToString } from '../protocol/data-model.js'
import { flagValue } from './ingest-run.js'

/**
 * Redis memory per DID of the per-repo state (issue 18), by layout, at N DIDs each: `used_memory`
 * of a fresh redis-server (no persistence) after writing N states, minus before, over N. Every
 * layout stores the same states (seeded: did:plc DIDs, TID revs, sha2-256 MST roots, a few
 * inactive accounts) encoded by repo-sync/repo-state-codec.ts; the peer is the plain layout a
 * first version would take, one string key per DID, measured in the same run.
 *
 * node dist/bench/repo-state-memory.js [--dids 100000,1000000] [--seed N]
 */
const argv = process.argv.slice(2)
const counts = (flagValue(argv, '--dids') ?? '100000,1000000').split(',').map(Number)
const seed = Number(flagValue(argv, '--seed') ?? 1)

interface Layout {
  name: string
  /** The commands that store one DID's value. */
  write: (did: string, value: Buffer) => [command: string, ...args: (string | Buffer)[]]
}

const bucketOf = (did: string, buckets: number): number => createHash('sha256').update(did).digest().readUInt32BE(0) % buckets

function layouts(dids: number): Layout[] {
  // ~100 DIDs per bucket keeps each hash in listpack encoding (hash-max-listpack-entries 128).
  const buckets = Math.max(1, Math.round(dids / 100))
  return [
    { name: 'peer: a string key per DID', write: (did, value) => ['SET', `r:${did}`, value] },
    { name: 'one hash (per shard stream)', write: (did, value) => ['HSET', 'repos', did, value] },
    { name: `hashes of ~100 DIDs (${buckets} buckets)`, write: (did, value) => ['HSET', `repos:${bucketOf(did, buckets)}`, did, value] },
    { name: 'one hash, text value (JSON)', write: (did, value) => ['HSET', 'repos-json', did, JSON.stringify({ v: value.toString('base64') })] },
  ]
}

function randomDid(random: SeededRandom): string {
  let id = ''
  for (let i = 0; i < 24; i++) id += 'abcdefghijklmnopqrstuvwxyz234567'[random.int(0, 31)]
  return `did:plc:${id}`
}

function randomTid(random: SeededRandom): string {
  let tid = TID_ALPHABET[random.int(0, 15)]!
  for (let i = 1; i < 13; i++) tid += TID_ALPHABET[random.int(0, 31)]
  return tid
}

function randomRoot(random: SeededRandom): string {
  const bytes = new Uint8Array(36)
  bytes.set([0x01, 0x71, 0x12, 0x20])
  for (let i = 4; i < 36; i++) bytes[i] = random.int(0, 255)
  return cidV1ToString(bytes)
}

async function main(): Promise<void> {
  const redis = await startRedis({ kind: 'process', persistence: 'none' })
  const client = await openRedisClient(redis.url)
  const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1])
  try {
    process.stdout.write(
      `Redis memory per DID of the per-repo state, seed ${seed}; value ${encodeRepoState({ rev: '3l2ksqkqfnk2a', data: randomRoot(new SeededRandom(seed)), status: 'active', sync: 'synchronized' }).length} bytes\n`,
    )
    for (const n of counts) {
      const results: { name: string; perDid: number }[] = []
      for (const layout of layouts(n)) {
        await client.flushall()
        const before = await usedMemory()
        const random = new SeededRandom(seed)
        for (let done = 0; done < n;) {
          const pipeline = client.pipeline()
          for (let i = 0; i < 10_000 && done < n; i++, done++) {
            const active = random.int(0, 49) !== 0
            const value = encodeRepoState({ rev: randomTid(random), data: randomRoot(random), status: active ? 'active' : 'deactivated', sync: 'synchronized' })
            const [command, ...args] = layout.write(randomDid(random), value)
            pipeline.call(command, ...args)
          }
          await pipeline.exec()
        }
        results.push({ name: layout.name, perDid: ((await usedMemory()) - before) / n })
      }
      const peer = results[0]!.perDid
      process.stdout.write(`${n.toLocaleString('en')} DIDs:\n`)
      for (const { name, perDid } of results) {
        process.stdout.write(`  ${name.padEnd(40)} ${perDid.toFixed(1).padStart(7)} B/DID  ${(perDid / peer).toFixed(2)}x the peer  (~${((perDid * 40e6) / 2 ** 30).toFixed(1)} GiB at 40M DIDs)\n`)
      }
    }
  } finally {
    client.disconnect()
    await redis.stop()
  }
}

await main()
