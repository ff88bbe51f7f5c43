import { afterAll, beforeAll, describe, it } from 'vitest'
import type { Cluster } from 'ioredis'
import { openClusterClient } from '../../common/redis-open.js'
import { startRedisCluster, type RedisClusterHandle } from '../../harness/redis/cluster.js'
import { shardOfDid } from '../../protocol/shard.js'
import { encodeRepoState } from '../../repo-sync/repo-state-codec.js'
import type { RepoState } from '../../repo-sync/types.js'
import { ownRedisForSuite, startOwnRedis } from '../ingestor/helpers.js'
import { cidOf, tidAt } from '../repo-sync/helpers.js'
import { runCli } from '../support/cli.js'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const REV_TIME = '2025-03-04T05:06:07.089Z'
const STATE: RepoState = { rev: tidAt(Date.parse(REV_TIME), 7), data: cidOf('repo-cli'), status: 'active', sync: 'synchronized' }
const SNAPSHOT = { id: `${STATE.rev}:0badf00d`, rev: STATE.rev, parts: 2, records: 900 }

/** The CLI's exit and output, for an assertion message. */
const shown = (result: { code: number | null; stdout: string; stderr: string }): string => `exit ${result.code}\n${result.stdout}${result.stderr}`

// Each case writes its own stream's keys in the suite's redis-server: concurrent.
describe('firehose repo', () => {
  const own = ownRedisForSuite()
  const repo = (stream: string, ...args: string[]): ReturnType<typeof runCli> => runCli(['repo', ...args, '--redis', own.redis.url, '--stream', stream])

  describe.concurrent('prints the stored state decoded (the hash holds binary values an operator cannot read), with the open snapshot', () => {
    it('as lines: sync state, status, rev with its time, data CID; exit 0', async ({ expect }) => {
      await own.admin.hset('found:repos', DID, encodeRepoState(STATE))
      const result = await repo('found', DID)
      expect(result.code, shown(result)).toBe(0)
      expect(result.stdout).toBe(
        [
          `did:       ${DID}`,
          `hash:      found:repos at ${own.redis.url}`,
          'sync:      synchronized',
          'status:    active',
          `rev:       ${STATE.rev} (${REV_TIME})`,
          `data:      ${STATE.data}`,
          'snapshot:  none open',
          '',
        ].join('\n'),
      )
      expect(result.stderr).toBe('')
    })

    it('--json: one JSON object, the snapshot progress parsed', async ({ expect }) => {
      await own.admin.hset('json:repos', DID, encodeRepoState({ ...STATE, sync: 'resyncing' }))
      await own.admin.hset('json:snapshots', DID, JSON.stringify(SNAPSHOT))
      const result = await repo('json', DID, '--json')
      expect(result.code, shown(result)).toBe(0)
      expect(result.stdout.trim().split('\n')).toHaveLength(1)
      expect(JSON.parse(result.stdout)).toEqual({
        did: DID,
        redis: own.redis.url,
        shard: 0,
        stream: 'json',
        key: 'json:repos',
        stored: 'state',
        state: { sync: 'resyncing', whole: false, status: 'active', rev: STATE.rev, revTime: REV_TIME, data: STATE.data },
        snapshotKey: 'json:snapshots',
        snapshot: SNAPSHOT,
      })
    })

    it('a snapshot progress that is not JSON is printed as stored (a string in --json)', async ({ expect }) => {
      await own.admin.hset('raw-snapshot:repos', DID, encodeRepoState(STATE))
      await own.admin.hset('raw-snapshot:snapshots', DID, 'part 3 of ?')
      const text = await repo('raw-snapshot', DID)
      expect(text.code, shown(text)).toBe(0)
      expect(text.stdout).toContain('\nsnapshot:  part 3 of ?\n')
      const json = await repo('raw-snapshot', DID, '--json')
      expect((JSON.parse(json.stdout) as { snapshot: unknown }).snapshot).toBe('part 3 of ?')
    })

    it('a state made by an #account alone (no chain yet): rev and data none, an unknown status as stored', async ({ expect }) => {
      await own.admin.hset('no-chain:repos', DID, encodeRepoState({ rev: '', data: '', status: 'pending-review', sync: 'desynchronized' }))
      const result = await repo('no-chain', DID)
      expect(result.code, shown(result)).toBe(0)
      expect(result.stdout).toContain('\nsync:      desynchronized\nstatus:    pending-review\nrev:       none (no commit, #sync or snapshot yet)\ndata:      none\n')
      const json = JSON.parse((await repo('no-chain', DID, '--json')).stdout) as { state: unknown }
      expect(json.state).toEqual({ sync: 'desynchronized', whole: false, status: 'pending-review', rev: '', revTime: null, data: '' })
    })
  })

  describe.concurrent('no state stored: exit 1 and a line saying so (a script tells "never seen" from a state)', () => {
    it('text and --json', async ({ expect }) => {
      await own.admin.hset('absent:repos', 'did:plc:someoneelse', encodeRepoState(STATE))
      const result = await repo('absent', DID)
      expect(result.code, shown(result)).toBe(1)
      expect(result.stdout).toBe([`did:       ${DID}`, `hash:      absent:repos at ${own.redis.url}`, 'state:     no state stored', 'snapshot:  none open', ''].join('\n'))
      const json = await repo('absent', DID, '--json')
      expect(json.code).toBe(1)
      expect(JSON.parse(json.stdout)).toMatchObject({ did: DID, key: 'absent:repos', stored: 'absent', state: null, snapshot: null })
    })
  })

  describe.concurrent("--shards: reads the DID's shard's colocated hash, the one the ingestor writes beside that shard stream", () => {
    it('the key is <stream>:repos:{<stream>:<shard>}, not the unsharded hash', async ({ expect }) => {
      const shards = 4
      const shard = shardOfDid(DID, shards)
      expect(shard).not.toBe(0) // else shard 0 could hide a wrong shard choice
      await own.admin.hset(`sharded:repos:{sharded:${shard}}`, DID, encodeRepoState(STATE))
      await own.admin.hset(`sharded:snapshots:{sharded:${shard}}`, DID, JSON.stringify(SNAPSHOT))
      // Decoys where a wrong layout would look: the unsharded hash, shard 0's.
      await own.admin.hset('sharded:repos', DID, encodeRepoState({ ...STATE, status: 'takendown' }))
      await own.admin.hset('sharded:repos:{sharded:0}', DID, encodeRepoState({ ...STATE, status: 'suspended' }))
      const result = await repo('sharded', DID, '--shards', String(shards))
      expect(result.code, shown(result)).toBe(0)
      expect(result.stdout).toContain(`\nhash:      sharded:repos:{sharded:${shard}} at ${own.redis.url} (shard ${shard} of ${shards}: stream sharded:${shard})\n`)
      expect(result.stdout).toContain('\nstatus:    active\n')
      expect(result.stdout).toContain(`\nsnapshot:  ${JSON.stringify(SNAPSHOT)}\n`)
      const json = JSON.parse((await repo('sharded', DID, '--shards', String(shards), '--json')).stdout) as Record<string, unknown>
      expect(json).toMatchObject({ shard, stream: `sharded:${shard}`, key: `sharded:repos:{sharded:${shard}}`, snapshotKey: `sharded:snapshots:{sharded:${shard}}` })
    })
  })

  describe.concurrent('a stored value that does not decode is shown, never crashed on: the codec’s reason and the bytes in hex, exit 1', () => {
    it('text: the RepoSyncError message and code, the value in hex', async ({ expect }) => {
      await own.admin.hset('garbage:repos', DID, Buffer.of(0x20, 0x01))
      const result = await repo('garbage', DID)
      expect(result.code, shown(result)).toBe(1)
      expect(result.stdout).toContain('\nstate:     does not decode: repo state: header 0x20: status code 8 is unknown [REPO_SYNC_BAD_STATE]\nvalue:     2001 (2 bytes)\n')
      expect(result.stderr).toBe('')
    })

    it('--json: the code, message, length and hex', async ({ expect }) => {
      const valid = encodeRepoState(STATE)
      await own.admin.hset('truncated:repos', DID, valid.subarray(0, 20))
      const result = await repo('truncated', DID, '--json')
      expect(result.code, shown(result)).toBe(1)
      expect(JSON.parse(result.stdout)).toMatchObject({
        stored: 'undecodable',
        state: null,
        undecodable: { code: 'REPO_SYNC_BAD_STATE', message: 'repo state: truncated: a digest needs 32 bytes at offset 9, 11 left', bytes: 20, hex: valid.subarray(0, 20).toString('hex') },
      })
    })

    it('a long value: its first 512 bytes in hex and its length (the output stays bounded)', async ({ expect }) => {
      await own.admin.hset('long:repos', DID, Buffer.alloc(100_000, 0xab))
      const result = await repo('long', DID)
      expect(result.code, shown(result)).toBe(1)
      expect(result.stdout).toContain(`\nvalue:     ${'ab'.repeat(512)}... (100000 bytes, the first 512 shown)\n`)
      expect(result.stdout.length).toBeLessThan(2000)
    })
  })

  describe.concurrent('usage errors and Redis failures: one line on stderr, nothing on stdout, no stack', () => {
    it.for([
      ['no method', 'not-a-did', /argument 'did'.*expected a DID/],
      ['an upper-case method', 'did:PLC:abc', /expected a DID/],
      ['an empty identifier', 'did:plc:', /expected a DID/],
      ['over 2048 characters', `did:plc:${'a'.repeat(2048)}`, /at most 2048 characters/],
    ] as const)('a malformed DID (%s): exit 2 before anything connects', async ([, did, reason], { expect }) => {
      const result = await runCli(['repo', did, '--redis', 'redis://127.0.0.1:1'])
      expect(result.code, shown(result)).toBe(2)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(reason)
      expect(result.stderr).toMatch(/\(see --help\)\n$/)
      expect(result.stdout).toBe('')
    })

    it('a stream name with braces under --shards (its name is the hash tag): exit 2', async ({ expect }) => {
      const result = await runCli(['repo', DID, '--redis', 'redis://127.0.0.1:1', '--stream', 'a{b}', '--shards', '2'])
      expect(result.code, shown(result)).toBe(2)
      expect(result.stderr).toMatch(/^firehose repo: the stream name "a\{b\}" may not contain \{ or \}.*\(see --help\)\n$/)
    })

    it('Redis unreachable: exit 3 naming the key and the Redis (password redacted)', async ({ expect }) => {
      const stopped = await startOwnRedis()
      const url = new URL(stopped.url)
      await stopped.stop()
      const result = await runCli(['repo', DID, '--redis', `redis://:hunter2@${url.host}`])
      expect(result.code, shown(result)).toBe(3)
      expect(result.stderr).toBe(`firehose repo: cannot read firehose:events:repos from Redis at redis://:***@${url.host}: connect ECONNREFUSED ${url.host}\n`)
      expect(result.stdout).toBe('')
    })

    it('Redis refusing the credentials: exit 4 (retrying cannot help)', async ({ expect }) => {
      const result = await runCli(['repo', DID, '--redis', own.redis.url.replace('redis://', 'redis://nobody:wrong@')])
      expect(result.code, shown(result)).toBe(4)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(/Redis refused the credentials: WRONGPASS .*\[REDIS_AUTH\]\n$/)
      expect(result.stderr).not.toContain('wrong@')
    })
  })
})

describe('--redis-cluster: the shard hash is found through one seed node, on whichever master holds its slot', () => {
  let cluster: RedisClusterHandle
  let admin: Cluster
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    admin = await openClusterClient(cluster.seedUrls)
  }, 60_000)
  afterAll(async () => {
    admin?.disconnect()
    await cluster?.stop()
  })

  it.for([1, 3])('--shards %i', async (shards, { expect }) => {
    const shard = shardOfDid(DID, shards)
    // Tagged on a cluster even with one shard: <stream>:repos:{<shard stream>}.
    const shardStream = shards === 1 ? 'clustered' : `clustered:${shard}`
    await admin.hset(`clustered:repos:{${shardStream}}`, DID, encodeRepoState({ ...STATE, status: `shards-${shards}` }))
    const result = await runCli(['repo', DID, '--redis', cluster.seedUrls[0]!, '--redis-cluster', '--stream', 'clustered', '--shards', String(shards), '--json'])
    expect(result.code, shown(result)).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ shard, stream: shardStream, key: `clustered:repos:{${shardStream}}`, state: { status: `shards-${shards}` } })
  })
})
