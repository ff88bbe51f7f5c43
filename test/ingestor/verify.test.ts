import { delay, http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { IngestorOptions, IngestorStatus } from '../../ingestor/index.js'
import type { Secp256k1Keypair } from '@atproto/crypto'
import { accountCommits, committedFramesAndDocs, didDoc, frameType, keypair, recommit, rewriteFrame, type DidDocs } from './verify-frames.js'
import { waitUntil } from '../../harness/wait.js'
import { expectIngestUsageError, ingestUntil, loadIngestor, ownRedisForSuite, replay, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const PLC = 'https://plc.verify.test'

/**
 * --verify end to end: the real replay server serves really signed frames, an in-process
 * ingestor (so msw intercepts its DID fetches) verifies them against DID documents served by msw
 * as a PLC directory and as did:web hosts, and writes to a real redis-server.
 */
describe('--verify (replay server -> ingestor with DID resolution over msw -> redis-server)', () => {
  const suite = ownRedisForSuite()
  const mock = setupServer()
  let committed: { frames: Uint8Array[]; docs: DidDocs }
  const tmp = tempDir()
  /** DID -> how its PLC document request is answered (default: the fixture's document). */
  let plcAnswer: (did: string) => Promise<Response | undefined> = async () => undefined
  let plcRequests: string[] = []

  beforeAll(async () => {
    committed = await committedFramesAndDocs()
    mock.listen({ onUnhandledRequest: 'bypass' })
  })
  afterEach(() => {
    mock.resetHandlers()
    plcAnswer = async () => undefined
    plcRequests = []
  })
  afterAll(() => {
    mock.close()
    tmp.cleanup()
  })

  function servePlc(docs: DidDocs): void {
    mock.use(
      http.get(`${PLC}/:did`, async ({ params }) => {
        const did = decodeURIComponent(String(params.did))
        plcRequests.push(did)
        const answer = await plcAnswer(did)
        if (answer !== undefined) return answer
        const doc = docs[did]
        return doc ? HttpResponse.json(doc) : new HttpResponse(null, { status: 404 })
      }),
    )
  }

  async function run(name: string, frames: Uint8Array[], options: Partial<IngestorOptions> = {}): Promise<{ status: IngestorStatus; entries: string[][]; dead: Record<string, string>[]; cursor: string | null }> {
    const file = await writeFixture(`${tmp.dir}/${name}.fixture`, frames)
    const server = await replay([file])
    const keys = uniqueKeys('test:verify')
    const lastSeq = Math.max(...frames.map((f) => frameType(f).seq))
    try {
      const handle = await ingestUntil(
        { relayUrl: server.url, redisUrl: suite.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, verify: true, plcUrl: PLC, didTimeoutMs: 2_000, ...options },
        lastSeq,
        60_000,
      )
      const entries = (await suite.admin.xrange(keys.stream, '-', '+')).map(([, fields]) => fields)
      const dead = (await suite.admin.xrange(keys.dead, '-', '+')).map(([, fields]) => toMap(fields))
      return { status: handle.status(), entries, dead, cursor: await suite.admin.get(keys.cursorKey) }
    } finally {
      await server.close()
    }
  }

  it('all valid: every event written, nothing dead-lettered, every commit and sync verified', async () => {
    servePlc(committed.docs)
    const signed = committed.frames.filter((f) => ['#commit', '#sync'].includes(frameType(f).t)).length
    const { status, entries, dead, cursor } = await run('valid', committed.frames)
    expect(dead).toEqual([])
    expect(entries).toHaveLength(committed.frames.length)
    expect(status.counters.verifiedFrames).toBe(signed)
    expect(status.counters.deadLettered).toBe(0)
    expect(cursor).toBe(String(frameType(committed.frames.at(-1)!).seq))
    // One fetch per account at most (the cache holds them all); #identity events invalidate, so a few more.
    expect(status.counters.didFetches).toBeLessThanOrEqual(Object.keys(committed.docs).length + status.writtenByType.identity!.events)
    expect(status.counters.didCacheHits).toBeGreaterThan(0)
  }, 120_000)

  it.each([
    { where: 'in a verify worker', verifyWorkers: 1 },
    { where: 'on the main thread', verifyWorkers: 0 },
  ])(
    'tampered frames are dead-lettered with their code, the others written, the cursor past them (checks $where)',
    async ({ verifyWorkers }) => {
      servePlc(committed.docs)
      const frames = committed.frames.slice(0, 300)
      const commits = frames.map((f, i) => ({ i, ...frameType(f) })).filter((f) => f.t === '#commit')
      const otherDid = commits.find((c) => c.did !== commits[10]!.did)!.did
      const tamper: Record<number, { code: string; frame: Promise<Uint8Array> | Uint8Array }> = {
        // A flipped signature byte, the commit block re-addressed so every block still hashes to its CID.
        [commits[10]!.i]: { code: 'VERIFY_BAD_SIGNATURE', frame: recommit(frames[commits[10]!.i]!, (c) => (c.sig = flip(c.sig as Uint8Array))) },
        // An op the signed tree does not hold.
        [commits[20]!.i]: { code: 'VERIFY_BAD_PROOF', frame: rewriteFrame(frames[commits[20]!.i]!, (b) => (b.ops = (b.ops as { path: string }[]).map((op) => ({ ...op, path: `${op.path}x` })))) },
        // The frame claims another account than the one that signed.
        [commits[30]!.i]: { code: 'VERIFY_DID_MISMATCH', frame: rewriteFrame(frames[commits[30]!.i]!, (b) => (b.repo = otherDid)) },
        // A commit whose rev the relay rewrote.
        [commits[40]!.i]: { code: 'VERIFY_BAD_COMMIT', frame: rewriteFrame(frames[commits[40]!.i]!, (b) => (b.rev = '3zzzzzzzzzzzz')) },
      }
      const input = await Promise.all(frames.map(async (f, i) => (tamper[i] ? await tamper[i].frame : f)))
      // An op dropped from a multi-op commit: the tree is right, but the ops are not the whole change (prevData).
      const multi = commits.find((c) => decodeOps(frames[c.i]!) > 1 && tamper[c.i] === undefined)
      if (multi !== undefined) {
        input[multi.i] = rewriteFrame(frames[multi.i]!, (b) => (b.ops = (b.ops as unknown[]).slice(1)))
        tamper[multi.i] = { code: 'VERIFY_BAD_PROOF', frame: input[multi.i]! }
      }
      const { entries, dead, cursor, status } = await run(`tampered-${verifyWorkers}`, input, { verifyWorkers })
      const expectedDead = Object.entries(tamper).map(([i, t]) => ({ seq: String(frameType(frames[Number(i)]!).seq), code: t.code }))
      expect(dead.map((d) => ({ seq: d.seq, code: d.code })).sort((a, b) => (a.seq ?? '').localeCompare(b.seq ?? ''))).toEqual(expectedDead.sort((a, b) => a.seq.localeCompare(b.seq)))
      expect(entries).toHaveLength(frames.length - expectedDead.length)
      expect(cursor).toBe(String(frameType(frames.at(-1)!).seq))
      expect(status.deadLettersByCode.VERIFY_BAD_SIGNATURE).toBe(1)
      expect(status.counters.deadLettered).toBe(expectedDead.length)
    },
    120_000,
  )

  it('a DID whose document has another key: its frames are dead-lettered VERIFY_BAD_SIGNATURE', async () => {
    const frames = committed.frames.slice(0, 200)
    const victim = frames.map(frameType).find((f) => f.t === '#commit')!.did
    const wrong = await keypair()
    servePlc({ ...committed.docs, [victim]: didDoc(victim, wrong) })
    const signedByVictim = frames.map(frameType).filter((f) => f.did === victim && ['#commit', '#sync'].includes(f.t))
    const { entries, dead } = await run('other-key', frames)
    expect(dead.map((d) => d.seq).sort()).toEqual(signedByVictim.map((f) => String(f.seq)).sort())
    expect(new Set(dead.map((d) => d.code))).toEqual(new Set(['VERIFY_BAD_SIGNATURE']))
    expect(entries).toHaveLength(frames.length - signedByVictim.length)
  }, 120_000)

  it('did:web: documents from https://<host>/.well-known/did.json; a rotated key is re-resolved; a host that stays down is dead-lettered VERIFY_DID_UNAVAILABLE', async () => {
    const [a, b, c] = [await keypair(), await keypair(), await keypair()]
    const alice = 'did:web:alice.verify.test'
    const rotating = 'did:web:rotating.verify.test'
    const down = 'did:web:down.verify.test'
    let rotated = 0
    mock.use(
      http.get('https://alice.verify.test/.well-known/did.json', () => HttpResponse.json(didDoc(alice, a))),
      // The first request sees key b, later ones key c: commits 3.. are signed with c.
      http.get('https://rotating.verify.test/.well-known/did.json', () => HttpResponse.json(didDoc(rotating, rotated++ === 0 ? b : c))),
      http.get('https://down.verify.test/.well-known/did.json', () => new HttpResponse(null, { status: 503 })),
    )
    const keyFor = (k: Secp256k1Keypair, then?: Secp256k1Keypair) => (i: number) => (then !== undefined && i >= 3 ? then : k)
    const frames = [...(await accountCommits(alice, keyFor(a), 3, 1)), ...(await accountCommits(rotating, keyFor(b, c), 6, 4)), ...(await accountCommits(down, keyFor(a), 2, 10))]
    const { entries, dead, status } = await run('did-web', frames, { batchSize: 1 })
    expect(entries.map((e) => e[5])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9'])
    expect(dead.map((d) => [d.seq, d.code])).toEqual([
      ['10', 'VERIFY_DID_UNAVAILABLE'],
      ['11', 'VERIFY_DID_UNAVAILABLE'],
    ])
    // Once per batch that checked with the cached key: seq 7's, and seq 8's when its key was
    // resolved before seq 7's refresh landed (with verification the next batch resolves while one is checked).
    expect(status.counters.didKeyRefreshes).toBeGreaterThanOrEqual(1)
    expect(status.counters.didKeyRefreshes).toBeLessThanOrEqual(2)
    expect(status.counters.verifiedFrames).toBe(9)
  }, 120_000)

  it('PLC 404: the DID is unresolved and its frames are dead-lettered VERIFY_DID_UNRESOLVED', async () => {
    const frames = committed.frames.slice(0, 200)
    const missing = frames.map(frameType).find((f) => f.t === '#commit')!.did
    const docs = { ...committed.docs }
    delete docs[missing]
    servePlc(docs)
    const signedByMissing = frames.map(frameType).filter((f) => f.did === missing && ['#commit', '#sync'].includes(f.t))
    const { dead, entries } = await run('plc-404', frames)
    expect(dead.map((d) => [d.seq, d.code])).toEqual(signedByMissing.map((f) => [String(f.seq), 'VERIFY_DID_UNRESOLVED']))
    expect(entries).toHaveLength(frames.length - signedByMissing.length)
  }, 120_000)

  it('PLC 500s and timeouts: verification waits and retries until the directory answers; nothing is dead-lettered or lost', async () => {
    const frames = committed.frames.slice(0, 200)
    servePlc(committed.docs)
    let failures = 0
    plcAnswer = async () => {
      // The first six requests fail: three 500s, then three that never answer within the timeout.
      if (failures >= 6) return undefined
      failures++
      if (failures <= 3) return new HttpResponse(null, { status: 500 })
      await delay(5_000)
      return new HttpResponse(null, { status: 500 })
    }
    const { entries, dead, status } = await run('plc-outage', frames, { didTimeoutMs: 300 })
    expect(dead).toEqual([])
    expect(entries).toHaveLength(frames.length)
    expect(status.counters.didResolveRetries).toBeGreaterThanOrEqual(6)
  }, 120_000)

  it('a stop while the PLC directory is down gives up the unverified frames unwritten; the next run writes them once', async () => {
    servePlc(committed.docs)
    const frames = committed.frames.slice(0, 200)
    const lastSeq = frameType(frames.at(-1)!).seq
    plcAnswer = async () => new HttpResponse(null, { status: 503 })
    const file = await writeFixture(`${tmp.dir}/plc-down.fixture`, frames)
    const server = await replay([file])
    const keys = uniqueKeys('test:verify')
    const options = { relayUrl: server.url, redisUrl: suite.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, verify: true, plcUrl: PLC, statusIntervalMs: 0 }
    try {
      const { startIngestor } = await loadIngestor()
      const stuck = await startIngestor(options)
      await waitUntil(() => stuck.status().counters.didResolveRetries >= 3, { what: 'PLC retries', timeoutMs: 30_000 })
      await stuck.stop()
      expect(await suite.admin.xlen(keys.stream)).toBe(0)
      expect(await suite.admin.xlen(keys.dead)).toBe(0)
      expect(await suite.admin.get(keys.cursorKey)).toBeNull()
      plcAnswer = async () => undefined
      await ingestUntil(options, lastSeq, 60_000)
      const seqs = (await suite.admin.xrange(keys.stream, '-', '+')).map(([, fields]) => Number(fields[5]))
      expect(seqs).toEqual(frames.map((f) => frameType(f).seq))
      expect(await suite.admin.xlen(keys.dead)).toBe(0)
    } finally {
      await server.close()
    }
  }, 120_000)

  it('the DID cache stays within --did-cache-size: evicted keys are fetched again, every frame still verified', async () => {
    servePlc(committed.docs)
    const frames = committed.frames.slice(0, 400)
    const accounts = new Set(
      frames
        .map(frameType)
        .filter((f) => f.t === '#commit')
        .map((f) => f.did),
    ).size
    // Keys are resolved once per batch: small batches, so most accounts come back in a later batch.
    // The in-process bound alone: the shared cache in Redis would answer the evicted keys.
    const { status, dead } = await run('small-cache', frames, { didCacheSize: 5, batchSize: 20, didSharedCacheSize: 0 })
    expect(dead).toEqual([])
    // 5 slots for `accounts` accounts: most lookups miss and fetch again.
    expect(status.counters.didFetches).toBeGreaterThan(accounts * 2)
    expect(new Set(plcRequests).size).toBe(accounts)
  }, 120_000)
})

function toMap(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!
  return out
}

function flip(sig: Uint8Array): Uint8Array {
  const out = Uint8Array.from(sig)
  out[5] = out[5]! ^ 0x01
  return out
}

function decodeOps(bytes: Uint8Array): number {
  let n = 0
  rewriteFrame(bytes, (b) => (n = (b.ops as unknown[]).length))
  return n
}

describe('--verify flags', () => {
  // Option checks: each a CLI start that exits before connecting, sharing nothing: concurrent.
  it.concurrent.for([
    [['--verify', '--plc-url', 'ftp://plc.example'], {}, /--plc-url.*expected a http: or https: URL/],
    [['--verify', '--did-cache-size', '0'], {}, /--did-cache-size.*expected an integer from 1/],
    [['--verify', '--verify-workers', '65'], {}, /--verify-workers.*expected an integer from 0 to 64/],
    [[], { FIREHOSE_VERIFY: '1', FIREHOSE_PLC_URL: 'not a url' }, /FIREHOSE_PLC_URL.*not a valid URL/],
  ] as const)('rejects %j %j with exit 2 and a one-line reason, before connecting', async ([args, env, reason], { expect }) => {
    await expectIngestUsageError(args, env, reason, expect)
  })
})
