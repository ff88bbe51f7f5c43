import { MST, MemoryBlockstore, cborToLexRecord, readCarWithRoot, verifyCommitSig } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeEvent, type CommitEvent, type FirehoseEvent } from '../../protocol/events.js'
import { decodeFrame } from '../../protocol/frame.js'
import { generate, tempDir, type Generated } from './helpers.js'

const SEED = 777
const EVENTS = 700
const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/

type Doc = { verificationMethod: { publicKeyMultibase: string }[] }

/** The parts of the generated lexicon records the record test looks at. */
type StrongRef = { uri: string; cid: string }
type ImageEmbed = { image: { ref: { $link: string } } }
type FacetFeature = { $type: string; tag?: string; did?: string }
interface CheckedRecord {
  $type: string
  createdAt?: string
  /** A strong ref (like, repost) or a DID (follow, block). */
  subject?: StrongRef | string
  text?: string
  reply?: { root: StrongRef; parent: StrongRef }
  /** app.bsky.embed.record is a ref; recordWithMedia has it one level down. */
  embed?: { record?: Partial<StrongRef> & { record?: StrongRef }; images?: ImageEmbed[]; media?: { images?: ImageEmbed[] } }
  facets?: { index: { byteStart: number; byteEnd: number }; features: FacetFeature[] }[]
}

describe('generated fixture: sync-1.1 chains, valid records, realistic mix', () => {
  let fixture: Generated
  let events: FirehoseEvent[]
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanup = tmp.cleanup
    fixture = await generate(tmp.dir, 'props.fixture.gz', { events: EVENTS, accounts: 40, seed: SEED, workers: 0 })
    events = fixture.frames.map((f) => decodeEvent(f.bytes))
  }, 180_000)

  afterAll(async () => cleanup?.())

  it('has increasing seq, time and receive time, and a manifest that says so', () => {
    const m = fixture.manifest
    expect(m.frameCount).toBe(EVENTS)
    expect(m.meta).toMatchObject({ generator: 'appview-firehose', seed: SEED, accounts: 40, didDocs: 'props.fixture.gz.did-docs.json' })
    let prev: { seq: number; time: number; us: number } | null = null
    for (const [i, event] of events.entries()) {
      if (!('seq' in event) || event.type === 'unknown') throw new Error(`frame ${i} has no seq (seed ${SEED})`)
      const time = Date.parse((event as CommitEvent).time)
      const us = fixture.frames[i]!.timeUs
      if (prev) {
        expect(event.seq, `seed ${SEED} frame ${i}`).toBe(prev.seq + 1)
        expect(time).toBeGreaterThanOrEqual(prev.time)
        expect(us).toBeGreaterThan(prev.us)
      }
      // A consumer receives a frame after the relay sequenced it.
      expect(us / 1000).toBeGreaterThanOrEqual(time)
      prev = { seq: event.seq, time, us }
    }
    expect(m.firstSeq).toBe((events[0] as CommitEvent).seq)
  })

  it('signs every commit with the DID document key and chains revs, since and prevData (sync-1.1 inversion)', async () => {
    const last = new Map<string, { rev: string; data: string }>()
    let inverted = 0
    for (const [i, frame] of fixture.frames.entries()) {
      const { header, body } = decodeFrame(frame.bytes)
      if (header.op !== 1 || (header.t !== '#commit' && header.t !== '#sync')) continue
      const did = (header.t === '#commit' ? body.repo : body.did) as string
      const rev = body.rev as string
      const where = `seed ${SEED} frame ${i} ${header.t} ${did}`
      const car = await readCarWithRoot(body.blocks as Uint8Array)
      const commit = cborToLexRecord(car.blocks.get(car.root)!) as { did: string; rev: string; data: CID; version: number; sig: Uint8Array }
      const doc = fixture.didDocs[did] as unknown as Doc
      expect(doc, where).toBeDefined()
      expect(await verifyCommitSig(commit as never, `did:key:${doc.verificationMethod[0]!.publicKeyMultibase}`), where).toBe(true)
      expect(commit).toMatchObject({ did, rev, version: 3 })
      expect(rev, where).toMatch(TID)
      const before = last.get(did)
      if (before) expect(rev > before.rev, where).toBe(true)

      if (header.t === '#sync') {
        // A sync announces the current tree under a new rev; it carries only the commit block.
        if (before) expect(commit.data.toString(), where).toBe(before.data)
        expect(car.blocks.size).toBe(1)
      } else {
        expect(car.root.toString()).toBe(String(body.commit))
        const ops = body.ops as { action: string; path: string; cid: CID | null; prev?: CID }[]
        if (body.since === null) {
          expect(body.prevData, where).toBeUndefined()
          expect(ops).toEqual([])
        } else {
          if (before) {
            expect(body.since, where).toBe(before.rev)
            expect(String(body.prevData), where).toBe(before.data)
          }
          // Invert the ops on the partial tree in the CAR: it must give back prevData exactly.
          let tree = MST.load(new MemoryBlockstore(car.blocks), commit.data)
          for (const op of [...ops].reverse()) {
            if (op.action === 'create') {
              expect(op.prev, where).toBeUndefined()
              expect(String(await tree.get(op.path)), where).toBe(String(op.cid))
              tree = await tree.delete(op.path)
            } else if (op.action === 'update') {
              expect(String(await tree.get(op.path)), where).toBe(String(op.cid))
              tree = await tree.update(op.path, op.prev!)
            } else {
              expect(op.cid, where).toBeNull()
              expect(await tree.get(op.path), where).toBeNull()
              tree = await tree.add(op.path, op.prev!)
            }
          }
          expect((await tree.getPointer()).toString(), where).toBe(String(body.prevData))
          inverted++
        }
      }
      last.set(did, { rev, data: commit.data.toString() })
    }
    expect(inverted).toBeGreaterThan(EVENTS * 0.8)
  }, 120_000)

  it('writes valid lexicon records whose strong refs and facets are right', () => {
    const created = new Map<string, string>()
    const dids = new Set(Object.keys(fixture.didDocs))
    const checkRef = (ref: { uri: string; cid: string }, where: string): void => {
      expect(ref.uri, where).toMatch(/^at:\/\/did:plc:[a-z2-7]{24}\/app\.bsky\.feed\.post\/[a-z2-7]{13}$/)
      expect(CID.parse(ref.cid).toString()).toBe(ref.cid)
      const known = created.get(ref.uri)
      // A record made in this fixture must be referenced by its exact CID; others pre-date it.
      if (known) expect(ref.cid, where).toBe(known)
      else expect(dids.has(ref.uri.split('/')[2]!), where).toBe(true)
    }
    const encoder = new TextEncoder()
    let facets = 0
    for (const event of events) {
      if (event.type !== 'commit') continue
      for (const op of event.ops) {
        const where = `seed ${SEED} seq ${event.seq} ${op.path}`
        const [collection, rkey] = op.path.split('/') as [string, string]
        const uri = `at://${event.repo}/${op.path}`
        if (op.action === 'delete') {
          created.delete(uri)
          continue
        }
        const record = op.record as CheckedRecord
        expect(record.$type, where).toBe(collection)
        expect(rkey, where).toMatch(collection === 'app.bsky.actor.profile' ? /^self$/ : TID)
        if (record.createdAt !== undefined) expect(new Date(record.createdAt).toISOString(), where).toBe(record.createdAt)
        if (collection === 'app.bsky.feed.like' || collection === 'app.bsky.feed.repost') checkRef(record.subject as StrongRef, where)
        if (collection === 'app.bsky.graph.follow' || collection === 'app.bsky.graph.block') expect(dids.has(record.subject as string), where).toBe(true)
        if (collection === 'app.bsky.feed.post') {
          expect(typeof record.text).toBe('string')
          if (record.reply) {
            checkRef(record.reply.root, where)
            checkRef(record.reply.parent, where)
          }
          const embedded = record.embed?.record?.record ?? record.embed?.record
          if (embedded?.uri) checkRef(embedded as StrongRef, where)
          const bytes = encoder.encode(record.text)
          for (const facet of record.facets ?? []) {
            facets++
            const { byteStart, byteEnd } = facet.index
            expect(byteStart < byteEnd && byteEnd <= bytes.length, where).toBe(true)
            const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(byteStart, byteEnd))
            const feature = facet.features[0]!
            if (feature.$type === 'app.bsky.richtext.facet#tag') expect(text).toBe(`#${feature.tag}`)
            if (feature.$type === 'app.bsky.richtext.facet#mention') {
              expect(text.startsWith('@')).toBe(true)
              expect(dids.has(feature.did!)).toBe(true)
            }
          }
          for (const image of record.embed?.images ?? record.embed?.media?.images ?? []) {
            expect(image.image).toMatchObject({ $type: 'blob', mimeType: expect.stringMatching(/^image\//) })
            expect(CID.parse(image.image.ref.$link).code).toBe(0x55)
          }
        }
        created.set(uri, op.cid!)
      }
    }
    expect(facets).toBeGreaterThan(0)
  })

  it('has the documented mix: mostly likes, then follows, posts, reposts; identity/account/sync around 1-3%', () => {
    const counts = fixture.manifest.countsByType
    const share = (t: string): number => (counts[t] ?? 0) / EVENTS
    expect(share('#commit'), `seed ${SEED}`).toBeGreaterThan(0.9)
    for (const t of ['#identity', '#account', '#sync']) {
      expect(share(t), `${t} seed ${SEED}`).toBeGreaterThan(0.001)
      expect(share(t), `${t} seed ${SEED}`).toBeLessThan(0.05)
    }
    const ops = new Map<string, number>()
    let multiOp = 0
    let empty = 0
    for (const event of events) {
      if (event.type !== 'commit') continue
      if (event.ops.length > 1) multiOp++
      if (event.ops.length === 0) empty++
      for (const op of event.ops) ops.set(`${op.action} ${op.path.split('/')[0]}`, (ops.get(`${op.action} ${op.path.split('/')[0]}`) ?? 0) + 1)
    }
    const n = (key: string): number => ops.get(key) ?? 0
    expect(n('create app.bsky.feed.like')).toBeGreaterThan(n('create app.bsky.feed.post'))
    expect(n('create app.bsky.feed.like')).toBeGreaterThan(n('create app.bsky.feed.repost'))
    expect(n('create app.bsky.feed.post')).toBeGreaterThan(n('create app.bsky.graph.block'))
    for (const key of ['create app.bsky.graph.follow', 'create app.bsky.feed.repost', 'create app.bsky.graph.block', 'update app.bsky.actor.profile', 'create app.bsky.graph.listitem', 'delete app.bsky.feed.like']) {
      expect(n(key), `${key} seed ${SEED}`).toBeGreaterThan(0)
    }
    expect(multiOp, `seed ${SEED}`).toBeGreaterThan(0)
    expect(empty, 'new accounts start with an empty commit').toBeGreaterThan(0)
    const sizes = fixture.frames.map((f) => f.bytes.length).sort((a, b) => a - b)
    const median = sizes[Math.floor(sizes.length / 2)]!
    expect(median).toBeGreaterThan(1000)
    expect(median).toBeLessThan(5000)
    expect(sizes[sizes.length - 1]!).toBeGreaterThan(8000)
  })

  it('puts one #info OutdatedCursor first when asked, and reports progress up to the total', async () => {
    const tmp = await tempDir()
    try {
      const progress: number[] = []
      const small = await generate(tmp.dir, 'info.fixture', { events: 1001, accounts: 10, medianRecords: 3, seed: SEED, workers: 0, infoFrame: true, onProgress: (p) => progress.push(p.events) })
      const first = decodeEvent(small.frames[0]!.bytes)
      expect(first).toMatchObject({ type: 'info', name: 'OutdatedCursor' })
      expect(small.manifest.countsByType['#info']).toBe(1)
      expect(small.manifest.firstSeq).toBe((decodeEvent(small.frames[1]!.bytes) as CommitEvent).seq)
      expect(progress).toEqual([1000, 1001])
    } finally {
      await tmp.cleanup()
    }
  }, 120_000)
})
