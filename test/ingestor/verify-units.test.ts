import { join } from 'node:path'
import { P256Keypair, Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { delay, http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DidResolver } from '../../ingestor/verify/did-resolver.js'
import { VerifyError } from '../../ingestor/verify/errors.js'
import { FrameVerifier } from '../../ingestor/verify/frame-verifier.js'
import { applyVerdicts } from '../../ingestor/verify/verdicts.js'
import { LruCache } from '../../common/lru-cache.js'
import { VerifyPool } from '../../ingestor/verify/verify-pool.js'
import { verifyOps } from '../../ingestor/verify/mst-proof.js'
import { readCommit, readSignedFrame, readSigner, type SignedFrame } from '../../ingestor/verify/signed-frame.js'
import { encodeFrame } from '../../protocol/frame.js'
import { waitUntil } from '../../harness/wait.js'
import { keyFromDocument } from '../../protocol/did-document.js'
import { unsignedBytes } from '../../protocol/repo-commit.js'
import { parseSigningKey, signatureValid } from '../../protocol/signing-key.js'
import { emptyCounters } from '../../ingestor/status.js'
import { silentLogger } from '../../common/logger.js'
import { repoRoot } from './helpers.js'
import { accountCommits, committedFramesAndDocs, didDoc, frameType, recommit, rewriteFrame, type DidDocs } from './verify-frames.js'

const PLC = 'https://plc.units.test'
const PLC_DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'

describe('LruCache', () => {
  it('holds at most maxEntries, evicting the least recently used', () => {
    const cache = new LruCache<string, number>(3)
    for (const [i, key] of ['a', 'b', 'c'].entries()) cache.set(key, i, 60_000)
    expect(cache.get('a')).toBe(0) // a is now the most recently used
    cache.set('d', 3, 60_000)
    expect(cache.size).toBe(3)
    expect(cache.get('b')).toBeUndefined()
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([0, 2, 3])
    for (let i = 0; i < 100; i++) cache.set(`k${i}`, i, 60_000)
    expect(cache.size).toBe(3)
  })

  it('forgets an entry once its TTL has passed', () => {
    let now = 1_000
    const cache = new LruCache<string, number>(10, () => now)
    cache.set('a', 1, 500)
    now += 499
    expect(cache.get('a')).toBe(1)
    now += 1
    expect(cache.get('a')).toBeUndefined()
    expect(cache.size).toBe(0)
  })
})

describe('signing keys: node:crypto ECDSA agrees with @atproto/crypto verifySignature', () => {
  it.each([
    ['secp256k1', () => Secp256k1Keypair.create()],
    ['P-256', () => P256Keypair.create()],
  ])('%s: valid, wrong data, wrong key, and high-S (malleated) signatures', async (_name, create) => {
    const [signer, other] = [await create(), await create()]
    const key = parseSigningKey(signer.did().slice('did:key:'.length))
    const data = new TextEncoder().encode('an unsigned commit')
    const sig = await signer.sign(data)
    const cases: [Uint8Array, Uint8Array, string][] = [
      [data, sig, signer.did()],
      [new TextEncoder().encode('another commit'), sig, signer.did()],
      [data, sig, other.did()],
      [data, highS(sig, _name === 'P-256' ? P256_ORDER : SECP256K1_ORDER), signer.did()],
      [data, sig.subarray(0, 63), signer.did()],
    ]
    for (const [bytes, signature, didKey] of cases) {
      const ours = signatureValid(didKey === signer.did() ? key : parseSigningKey(didKey.slice('did:key:'.length)), bytes, signature)
      const theirs = await verifySignature(didKey, bytes, signature).catch(() => false)
      expect(ours).toBe(theirs)
    }
    expect(signatureValid(key, data, sig)).toBe(true)
  })
})

describe('DidResolver (msw as PLC directory and did:web hosts)', () => {
  const mock = setupServer()
  beforeAll(() => mock.listen({ onUnhandledRequest: 'error' }))
  afterEach(() => mock.resetHandlers())
  afterAll(() => mock.close())
  let key: Secp256k1Keypair
  beforeAll(async () => {
    key = await Secp256k1Keypair.create()
  })
  const resolver = (overrides: Partial<ConstructorParameters<typeof DidResolver>[0]> = {}): DidResolver => new DidResolver({ plcUrl: PLC, cacheSize: 100, ttlMs: 60_000, timeoutMs: 1_000, maxInFlight: 4, ...overrides })

  it('did:plc from <plcUrl>/<did>, cached; concurrent requests for one DID share one fetch', async () => {
    let requests = 0
    mock.use(
      plc(async () => {
        requests++
        await delay(50)
        return HttpResponse.json(didDoc(PLC_DID, key))
      }),
    )
    const r = resolver()
    const answers = await Promise.all([r.resolve(PLC_DID), r.resolve(PLC_DID), r.resolve(PLC_DID)])
    expect(requests).toBe(1)
    expect(answers.map((a) => a.resolution.kind === 'key' && a.resolution.key.didKey)).toEqual([key.did(), key.did(), key.did()])
    expect((await r.resolve(PLC_DID)).fromCache).toBe(true)
    await r.invalidate(PLC_DID)
    expect((await r.resolve(PLC_DID)).fromCache).toBe(false)
    expect(requests).toBe(2)
  })

  it('did:web from https://<host>[:port]/.well-known/did.json', async () => {
    const did = 'did:web:pds.units.test%3A8443'
    mock.use(http.get('https://pds.units.test:8443/.well-known/did.json', () => HttpResponse.json(didDoc(did, key))))
    const { resolution } = await resolver().resolve(did)
    expect(resolution).toMatchObject({ kind: 'key', key: { didKey: key.did() } })
  })

  it('404, a document for another DID, no #atproto key, an oversized document, did:web with a path, other methods: unresolved', async () => {
    const other = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
    const big = 'did:plc:cccccccccccccccccccccccc'
    const nokey = 'did:plc:dddddddddddddddddddddddd'
    mock.use(
      plc(async (did) => {
        if (did === other) return HttpResponse.json(didDoc(PLC_DID, key))
        if (did === big) return HttpResponse.json({ ...didDoc(big, key), padding: 'x'.repeat(100_000) })
        if (did === nokey) return HttpResponse.json({ ...didDoc(nokey, key), verificationMethod: [] })
        return new HttpResponse(null, { status: 404 })
      }),
    )
    const r = resolver()
    for (const did of [PLC_DID, other, big, nokey, 'did:web:host.test:path', 'did:key:zQ3sh', 'did:plc:short']) {
      expect((await r.resolve(did)).resolution.kind, did).toBe('unresolved')
    }
  })

  it('5xx and timeouts throw VERIFY_DID_UNAVAILABLE and are not cached', async () => {
    let calls = 0
    mock.use(
      plc(async () => {
        calls++
        if (calls === 1) return new HttpResponse(null, { status: 502 })
        if (calls === 2) await delay(5_000)
        return HttpResponse.json(didDoc(PLC_DID, key))
      }),
    )
    const r = resolver({ timeoutMs: 200 })
    await expect(r.resolve(PLC_DID)).rejects.toMatchObject({ code: 'VERIFY_DID_UNAVAILABLE' })
    await expect(r.resolve(PLC_DID)).rejects.toBeInstanceOf(VerifyError)
    expect((await r.resolve(PLC_DID)).resolution.kind).toBe('key')
    expect(calls).toBe(3)
  })

  it('at most maxInFlight requests at once', async () => {
    let active = 0
    let peak = 0
    mock.use(
      plc(async (did) => {
        peak = Math.max(peak, ++active)
        await delay(20)
        active--
        return HttpResponse.json(didDoc(did, key))
      }),
    )
    const r = resolver({ maxInFlight: 3 })
    const dids = Array.from({ length: 12 }, (_, i) => `did:plc:${'a'.repeat(22)}${'abcdefghijkl'[i]}a`)
    const answers = await Promise.all(dids.map((did) => r.resolve(did)))
    expect(answers.every((a) => a.resolution.kind === 'key')).toBe(true)
    expect(peak).toBe(3)
    expect(r.fetches).toBe(12)
  })

  it('keyFromDocument takes the #atproto Multikey only', () => {
    expect(keyFromDocument(PLC_DID, 'not json').kind).toBe('unresolved')
    const doc = didDoc(PLC_DID, key) as { verificationMethod: Record<string, unknown>[] }
    doc.verificationMethod[0]!.type = 'EcdsaSecp256k1VerificationKey2019'
    expect(keyFromDocument(PLC_DID, JSON.stringify(doc))).toMatchObject({ kind: 'unresolved', reason: expect.stringContaining('Multikey only') })
  })
})

describe('FrameVerifier key rotation', () => {
  it.each([0, 1])('a batch of frames signed with a rotated key: one re-resolution, every frame checked again and verified (%i verify workers)', async (workers) => {
    const [old, rotated] = [await Secp256k1Keypair.create(), await Secp256k1Keypair.create()]
    const did = 'did:web:rotated.units.test'
    const frames = await accountCommits(did, () => rotated, 4, 1)
    const asked: boolean[] = []
    const resolver = {
      // The cache still holds the old key; a refresh finds the new one.
      resolve: async (_did: string, refresh = false) => {
        asked.push(refresh)
        const key = parseSigningKey((refresh ? rotated : old).did().slice('did:key:'.length))
        return { resolution: { kind: 'key' as const, key }, fromCache: !refresh }
      },
      invalidate: () => {},
      flush: async () => {},
      fetches: 0,
      cacheHits: 0,
    }
    const counters = emptyCounters()
    // As built in dist/: the verify worker is a compiled file.
    const built = (await import(join(repoRoot, 'dist/ingestor/verify/frame-verifier.js'))) as typeof import('../../ingestor/verify/frame-verifier.js')
    const { VerifyPool: BuiltPool } = (await import(join(repoRoot, 'dist/ingestor/verify/verify-pool.js'))) as typeof import('../../ingestor/verify/verify-pool.js')
    const verifier = new built.FrameVerifier(resolver as unknown as DidResolver, new BuiltPool(workers, silentLogger), counters, { backoff: { initialMs: 1, maxMs: 1 }, webAttempts: 1 }, silentLogger)
    try {
      expect(await verifier.verify(frames, () => false)).toEqual([null, null, null, null])
    } finally {
      await verifier.close()
    }
    expect(asked).toEqual([false, true])
    expect(counters.didKeyRefreshes).toBe(1)
    expect(counters.verifiedFrames).toBe(4)
  })
})

describe('FrameVerifier: batches resolve their keys one at a time, in the order given', () => {
  // The pipeline keeps one batch more in flight with verification (its keys resolved while the
  // workers check the one before); a later batch's #identity must still not end the key an
  // earlier batch is looking up, as in one sequential stream.
  it("a later batch's #identity waits for an earlier batch's lookups, then its own lookup sees it", async () => {
    const keypair = await Secp256k1Keypair.create()
    const did = 'did:web:order.units.test'
    const [first, second] = await accountCommits(did, () => keypair, 2, 1)
    const identity = encodeFrame({ op: 1, t: '#identity' }, { seq: 50, did, time: new Date(0).toISOString() })
    const log: string[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const resolver = {
      resolve: async () => {
        log.push('resolve')
        if (log.length === 1) await held
        return { resolution: { kind: 'key' as const, key: parseSigningKey(keypair.did().slice('did:key:'.length)) }, fromCache: false }
      },
      invalidate: () => {
        log.push('invalidate')
      },
      flush: async () => {},
      fetches: 0,
      cacheHits: 0,
    }
    const verifier = new FrameVerifier(resolver as unknown as DidResolver, new VerifyPool(0, silentLogger), emptyCounters(), { backoff: { initialMs: 1, maxMs: 1 }, webAttempts: 1 }, silentLogger)
    try {
      const earlier = verifier.verify([first!], () => false)
      const later = verifier.verify([identity, second!], () => false)
      await waitUntil(() => log.length > 0, { what: "the earlier batch's lookup", timeoutMs: 5_000 })
      // A turn of the event loop: the later batch would have invalidated by now if it did not wait.
      await new Promise((resolve) => setImmediate(resolve))
      expect(log).toEqual(['resolve'])
      release()
      expect(await earlier).toEqual([null])
      expect(await later).toEqual([null, null])
      expect(log).toEqual(['resolve', 'invalidate', 'resolve'])
    } finally {
      await verifier.close()
    }
  })
})

describe('readSigner: what the main thread reads of a frame to resolve its key', () => {
  it('the DID and seq of every #commit, #sync and #identity, as readSignedFrame reads them; null for other frames', async () => {
    const { frames } = await committedFramesAndDocs()
    let read = 0
    for (const bytes of frames) {
      const full = readSignedFrame(bytes)
      const signer = readSigner(bytes)
      if (full === null) {
        expect(signer === null || !['#commit', '#sync', '#identity'].includes(frameType(bytes).t)).toBe(true)
        continue
      }
      expect(signer).toEqual({ t: full.t, did: full.did, seq: full.t === '#identity' ? signer!.seq : full.seq })
      read++
    }
    expect(read).toBeGreaterThan(1_000)
    expect(readSigner(encodeFrame({ op: 1, t: '#account' }, { seq: 1, did: PLC_DID, active: true, time: new Date(0).toISOString() }))).toBeNull()
    expect(readSigner(encodeFrame({ op: -1 }, { error: 'FutureCursor' }))).toBeNull()
    expect(readSigner(encodeFrame({ op: 1, t: '#commit' }, { seq: 1, did: PLC_DID }))).toBeNull() // a #commit names its account `repo`
    expect(readSigner(new Uint8Array([0xa2, 0x61]))).toBeNull()
  })
})

describe('commit verification on the committed fixture (really signed, sync 1.1)', () => {
  let committed: { frames: Uint8Array[]; docs: DidDocs }
  beforeAll(async () => {
    committed = await committedFramesAndDocs()
  })
  const keyOf = (docs: DidDocs, did: string) => parseSigningKey((docs[did]!.verificationMethod as { publicKeyMultibase: string }[])[0]!.publicKeyMultibase)

  it('every #commit and #sync: signature, DID, rev and MST proofs (inverted to prevData) hold', async () => {
    let checked = 0
    let inverted = 0
    for (const bytes of committed.frames) {
      const frame = readSignedFrame(bytes)
      if (frame === null || frame.t === '#identity') continue
      const commit = readCommit(frame)
      expect(signatureValid(keyOf(committed.docs, frame.did), unsignedBytes(commit), commit.sig)).toBe(true)
      await verifyOps(frame, commit)
      checked++
      if (frame.prevData !== null) inverted++
    }
    expect(checked).toBe(committed.frames.filter((f) => ['#commit', '#sync'].includes(frameType(f).t)).length)
    expect(inverted).toBeGreaterThan(1_000)
  })

  it('FrameVerifier: one verdict per frame, codes for tampered frames; applyVerdicts dead-letters only published entries', async () => {
    const frames = committed.frames.slice(0, 120)
    const commitIndex = frames.findIndex((f) => frameType(f).t === '#commit' && proofOps(f) > 0)
    const input = [...frames]
    input[commitIndex] = rewriteFrame(frames[commitIndex]!, (b) => (b.ops = []))
    const sigIndex = frames.findIndex((f, i) => i > commitIndex && frameType(f).t === '#commit')
    input[sigIndex] = await recommit(frames[sigIndex]!, (c) => {
      const sig = Uint8Array.from(c.sig as Uint8Array)
      sig[3] = sig[3]! ^ 0xff
      c.sig = sig
    })
    const docs = committed.docs
    const fakeResolver = { resolve: async (did: string) => ({ resolution: { kind: 'key' as const, key: keyOf(docs, did) }, fromCache: false }), invalidate: () => {}, flush: async () => {}, fetches: 0, cacheHits: 0 }
    const counters = emptyCounters()
    const verifier = new FrameVerifier(fakeResolver as unknown as DidResolver, new VerifyPool(0, silentLogger), counters, { backoff: { initialMs: 1, maxMs: 1 }, webAttempts: 1 }, silentLogger)
    const verdicts = (await verifier.verify(input, () => false))!
    await verifier.close()
    expect(verdicts).toHaveLength(input.length)
    const failed = verdicts.flatMap((v, i) => (v === null ? [] : [[i, v.code]]))
    expect(failed).toEqual([
      [commitIndex, 'VERIFY_BAD_PROOF'],
      [sigIndex, 'VERIFY_BAD_SIGNATURE'],
    ])
    const entry = { kind: 'entry' as const, entry: {} as never, timeMs: null, shard: 0 }
    const results = applyVerdicts(
      verdicts.map((_, i) => (i === sigIndex ? { kind: 'filtered' as const, seq: 1, ops: 1 } : entry)),
      verdicts,
    )
    expect(results[commitIndex]).toMatchObject({ kind: 'bad', code: 'VERIFY_BAD_PROOF' })
    expect(results[sigIndex]).toMatchObject({ kind: 'filtered' })
  })
})

/** A PLC directory handler (msw paths cannot hold the DID's colons literally). */
function plc(answer: (did: string) => Promise<Response>) {
  return http.get(`${PLC}/:did`, ({ params }) => answer(decodeURIComponent(String(params.did))))
}

function proofOps(bytes: Uint8Array): number {
  const frame = readSignedFrame(bytes) as SignedFrame | null
  return frame?.ops?.length ?? 0
}

const SECP256K1_ORDER = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

/** The same signature with s replaced by n - s: valid ECDSA, but atproto accepts low-S only. */
function highS(sig: Uint8Array, order: bigint): Uint8Array {
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`)
  const out = Uint8Array.from(sig)
  out.set(Buffer.from((order - s).toString(16).padStart(64, '0'), 'hex'), 32)
  return out
}
