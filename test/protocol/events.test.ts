import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { FrameErrorCode } from '../../protocol/errors.js'
import { type CommitEvent, decodeEvent } from '../../protocol/events.js'
import { encodeFrame } from '../../protocol/frame.js'
import { type Block, DID, blockOf, blockOfBytes, carOf, commitFrame, commitParts, concat, expectFrameError, hex } from './helpers.js'

const message = (t: string, body: Record<string, unknown>) => encodeFrame({ op: 1, t }, body)
const decodeCommit = (bytes: Uint8Array, options = {}) => decodeEvent(bytes, options) as CommitEvent

/** A commit whose single create op points at `block` (any bytes), which the CAR carries. */
async function commitPointingAt(block: Block, seq: number): Promise<Uint8Array> {
  const parts = await commitParts([], { seq, carBlocks: (blocks) => [...blocks, block] })
  parts.body.ops = [{ action: 'create', path: 'x.y.z/r', cid: block.cid }]
  return message('#commit', parts.body)
}

const LIKE = {
  $type: 'app.bsky.feed.like',
  subject: { uri: 'at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lmxjzlexp22k', cid: 'bafyreih5mktscghqb7t2zmqb7s755iqk23rw7zc5525ifp53b3ksr2kk2i' },
  createdAt: '2025-04-16T21:30:26.717Z',
}

describe('decodeEvent: non-commit message types', () => {
  it('#identity, with and without a handle', () => {
    const time = '2025-04-16T23:40:33.895Z'
    expect(decodeEvent(message('#identity', { seq: 110, did: DID, handle: 'pengua.bsky.social', time }))).toEqual({
      type: 'identity',
      seq: 110,
      did: DID,
      handle: 'pengua.bsky.social',
      time,
    })
    expect(decodeEvent(message('#identity', { seq: 111, did: DID, time }))).toEqual({ type: 'identity', seq: 111, did: DID, handle: null, time })
  })

  it('#account, including a production `time` without a timezone', () => {
    const time = '2026-02-24T14:05:20.5215469'
    expect(decodeEvent(message('#account', { seq: 140, did: DID, active: false, status: 'deleted', time }))).toEqual({
      type: 'account',
      seq: 140,
      did: DID,
      active: false,
      status: 'deleted',
      time,
    })
    expect(decodeEvent(message('#account', { seq: 141, did: DID, active: true, time }))).toMatchObject({ active: true, status: null })
  })

  it('#account without `active` is rejected with its seq', () => {
    const err = expectFrameError(() => decodeEvent(message('#account', { seq: 9, did: DID, time: 'x' })), FrameErrorCode.BadBody)
    expect(err.seq).toBe(9)
  })

  it('#sync takes its commit CID from the CAR root', async () => {
    const data = await blockOf({ e: [], l: null })
    const commit = await blockOf({ did: DID, rev: '3lmxrbvasth2t', data: data.cid, version: 3 })
    const body = { seq: 130, did: DID, rev: '3lmxrbvasth2t', blocks: carOf([commit.cid], [commit]), time: '2025-04-16T23:40:33.897Z' }
    expect(decodeEvent(message('#sync', body))).toEqual({
      type: 'sync',
      seq: 130,
      did: DID,
      rev: '3lmxrbvasth2t',
      commit: commit.cid.toString(),
      data: data.cid.toString(),
      time: '2025-04-16T23:40:33.897Z',
    })
  })

  it('#sync with a CAR without roots is FRAME_BAD_CAR', () => {
    const body = { seq: 131, did: DID, rev: 'r', blocks: carOf([], []), time: 't' }
    const err = expectFrameError(() => decodeEvent(message('#sync', body)), FrameErrorCode.BadCar)
    expect(err.seq).toBe(131)
  })

  it('#info, with and without a message', () => {
    expect(decodeEvent(message('#info', { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit.' }))).toEqual({
      type: 'info',
      name: 'OutdatedCursor',
      message: 'Requested cursor exceeded limit.',
    })
    expect(decodeEvent(message('#info', { name: 'OutdatedCursor' }))).toEqual({ type: 'info', name: 'OutdatedCursor', message: null })
  })

  it('an unknown `t` decodes as unknown, with its seq when it has one', () => {
    expect(decodeEvent(message('#labels', { seq: 77, labels: [] }))).toEqual({ type: 'unknown', t: '#labels', seq: 77 })
    expect(decodeEvent(message('#future', { anything: new Uint8Array(3) }))).toEqual({ type: 'unknown', t: '#future', seq: null })
    expect(decodeEvent(message('', { seq: 'not a number' }))).toEqual({ type: 'unknown', t: '', seq: null })
  })

  it('deprecated #handle, #migrate and #tombstone decode as unknown', () => {
    expect(decodeEvent(message('#handle', { seq: 1, did: DID, handle: 'a.test', time: 't' }))).toEqual({ type: 'unknown', t: '#handle', seq: 1 })
    expect(decodeEvent(message('#migrate', { seq: 2, did: DID, migrateTo: null, time: 't' }))).toEqual({ type: 'unknown', t: '#migrate', seq: 2 })
    expect(decodeEvent(message('#tombstone', { seq: 3, did: DID, time: 't' }))).toEqual({ type: 'unknown', t: '#tombstone', seq: 3 })
  })
})

describe('decodeEvent: #commit', () => {
  it('attaches records in the JSON data model; deletes get cid null and record null', async () => {
    const link = CID.parse('bafkreigo42po23ciju42tjvieq6qwr2j52re5skq3smc32vbtrpj5uynnq')
    const post = {
      $type: 'app.bsky.feed.post',
      text: 'héllo 👋',
      embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: { $type: 'blob', ref: link, mimeType: 'image/jpeg', size: 213841 } }] },
      raw: new Uint8Array([0xfb, 0xff, 0x01]), // base64 "+/8B": standard alphabet, padding stripped
      createdAt: '2025-04-16T21:31:31.667Z',
    }
    const prev = CID.parse('bafyreicftwsv77h736dhuqe6mdhbanbxyronlwwoogdqyvjkxkvggubhwy')
    const parts = await commitParts(
      [
        { action: 'create', path: 'app.bsky.feed.post/3lmxk35znys2k', record: post },
        { action: 'update', path: 'app.bsky.feed.like/3lmxjza3h2i27', record: LIKE, prev },
        { action: 'delete', path: 'app.bsky.feed.like/3lmxjza3h2i28', prev },
      ],
      { seq: 35986865, override: { prevData: prev, blobs: [link] } },
    )
    const event = decodeCommit(message('#commit', parts.body))
    expect(event).toEqual({
      type: 'commit',
      seq: 35986865,
      repo: DID,
      rev: '3lmxjza3nva27',
      since: '3lmxjxi3hjn23',
      commit: parts.blocks[0]!.cid.toString(),
      time: '2025-04-16T21:30:28.094Z',
      tooBig: false,
      rebase: false,
      blobs: [link.toString()],
      prevData: prev.toString(),
      data: parts.data.toString(),
      ops: [
        {
          action: 'create',
          path: 'app.bsky.feed.post/3lmxk35znys2k',
          cid: parts.recordCids.get('app.bsky.feed.post/3lmxk35znys2k')!.toString(),
          record: {
            $type: 'app.bsky.feed.post',
            text: 'héllo 👋',
            embed: {
              $type: 'app.bsky.embed.images',
              images: [{ alt: '', image: { $type: 'blob', ref: { $link: link.toString() }, mimeType: 'image/jpeg', size: 213841 } }],
            },
            raw: { $bytes: '+/8B' },
            createdAt: '2025-04-16T21:31:31.667Z',
          },
        },
        {
          action: 'update',
          path: 'app.bsky.feed.like/3lmxjza3h2i27',
          cid: parts.recordCids.get('app.bsky.feed.like/3lmxjza3h2i27')!.toString(),
          prev: prev.toString(),
          record: LIKE,
        },
        { action: 'delete', path: 'app.bsky.feed.like/3lmxjza3h2i28', cid: null, prev: prev.toString(), record: null },
      ],
    })
  })

  it('a delete op that still carries a cid gets cid null and record null', async () => {
    const parts = await commitParts([{ action: 'create', path: 'app.bsky.feed.like/a', record: LIKE }])
    const ops = parts.body.ops as Record<string, unknown>[]
    ops[0]!.action = 'delete'
    expect(decodeCommit(message('#commit', parts.body)).ops).toEqual([{ action: 'delete', path: 'app.bsky.feed.like/a', cid: null, record: null }])
  })

  it('accepts production quirks: since "", zero ops, blobs null, legacy prev, time without timezone', async () => {
    const bytes = await commitFrame([], { override: { since: '', blobs: null, prev: null, time: '2026-02-24T14:05:20.5215469' } })
    expect(decodeCommit(bytes)).toMatchObject({ since: null, ops: [], blobs: [], prevData: null, time: '2026-02-24T14:05:20.5215469' })
    const noSince = await commitFrame([], { override: { since: null } })
    expect(decodeCommit(noSince).since).toBeNull()
    const missingBlobs = await commitFrame([], { override: { blobs: undefined } })
    expect(decodeCommit(missingBlobs).blobs).toEqual([])
  })

  it('a tooBig commit may omit record blocks: records are null, not an error', async () => {
    const bytes = await commitFrame([{ action: 'create', path: 'app.bsky.feed.like/a', record: LIKE }], {
      override: { tooBig: true },
      carBlocks: (blocks) => blocks.slice(0, 1),
    })
    const event = decodeCommit(bytes)
    expect(event.tooBig).toBe(true)
    expect(event.ops[0]).toMatchObject({ action: 'create', path: 'app.bsky.feed.like/a', record: null })
    expect(event.ops[0]!.cid).not.toBeNull()
  })

  it('reads links of every form alike (decodeEvent keeps simple CIDv1s as bytes): CIDv0 and multi-byte codes print as CID.toString() and find their blocks', async () => {
    const recordBytes = dagCbor.encode({ a: 1 })
    const digest = await sha256.digest(recordBytes)
    const v0 = CID.createV0(digest)
    const wide = CID.createV1(0x0129, digest) // dag-json: a two-byte codec varint, not a simple CIDv1
    const parts = await commitParts([], {
      seq: 509,
      carBlocks: (blocks) => [...blocks, { cid: v0, bytes: recordBytes }, { cid: wide, bytes: recordBytes }],
      override: { blobs: [v0, wide], prevData: wide },
    })
    parts.body.ops = [
      { action: 'create', path: 'x.y.z/v0', cid: v0 },
      { action: 'update', path: 'x.y.z/wide', cid: wide, prev: v0 },
    ]
    const event = decodeCommit(message('#commit', parts.body))
    expect(event.ops).toEqual([
      { action: 'create', path: 'x.y.z/v0', cid: v0.toString(), record: { a: 1 } },
      { action: 'update', path: 'x.y.z/wide', cid: wide.toString(), prev: v0.toString(), record: { a: 1 } },
    ])
    expect([event.blobs, event.prevData]).toEqual([[v0.toString(), wide.toString()], wide.toString()])
  })

  it('a frame whose body is a link is not a map: FRAME_BAD_BODY', () => {
    const link = CID.parse('bafyreih5mktscghqb7t2zmqb7s755iqk23rw7zc5525ifp53b3ksr2kk2i')
    const err = expectFrameError(() => decodeEvent(concat(dagCbor.encode({ op: 1, t: '#commit' }), dagCbor.encode(link))), FrameErrorCode.BadBody)
    expect(err.message).toBe('frame body is not a map')
  })

  it('keeps a record key named __proto__ as data', async () => {
    const record = JSON.parse('{"$type":"x.y.z","__proto__":{"polluted":true}}') as unknown
    const bytes = await commitFrame([{ action: 'create', path: 'x.y.z/a', record }])
    const recordJson = decodeCommit(bytes).ops[0]!.record as Record<string, unknown>
    expect(Object.getPrototypeOf(recordJson)).toBe(Object.prototype)
    expect(JSON.stringify(recordJson)).toBe('{"$type":"x.y.z","__proto__":{"polluted":true}}')
  })
})

describe('decodeEvent: #commit rejections', () => {
  it('an op whose block is missing from the CAR: FRAME_BLOCK_MISSING with seq, cid and path', async () => {
    const parts = await commitParts([{ action: 'create', path: 'app.bsky.feed.like/a', record: LIKE }], {
      seq: 501,
      carBlocks: (blocks) => blocks.slice(0, 1),
    })
    const err = expectFrameError(() => decodeEvent(message('#commit', parts.body)), FrameErrorCode.BlockMissing)
    expect(err.seq).toBe(501)
    expect(err.fields).toMatchObject({ seq: 501, path: 'app.bsky.feed.like/a', cid: parts.recordCids.get('app.bsky.feed.like/a')!.toString() })
  })

  it('a block whose bytes do not hash to its CID: FRAME_BLOCK_HASH_MISMATCH; passes with verifyBlocks: false', async () => {
    const tampered = { ...LIKE, createdAt: '2030-01-01T00:00:00.000Z' }
    const tamperedBytes = dagCbor.encode(tampered)
    const bytes = await commitFrame([{ action: 'create', path: 'app.bsky.feed.like/a', record: LIKE }], {
      seq: 502,
      carBlocks: (blocks) => [blocks[0]!, { cid: blocks[1]!.cid, bytes: tamperedBytes }],
    })
    const err = expectFrameError(() => decodeEvent(bytes), FrameErrorCode.BlockHashMismatch)
    expect(err.seq).toBe(502)
    expect(err.fields.cid).toBe((await blockOf(LIKE)).cid.toString())
    expect(decodeCommit(bytes, { verifyBlocks: false }).ops[0]!.record).toEqual(tampered)
  })

  it("a tampered block that no op references: rejected by default ('all'), ignored with 'records'", async () => {
    const stray = await blockOf({ stray: true })
    const bytes = await commitFrame([{ action: 'create', path: 'app.bsky.feed.like/a', record: LIKE }], {
      seq: 503,
      carBlocks: (blocks) => [...blocks, { cid: stray.cid, bytes: dagCbor.encode({ stray: false }) }],
    })
    expect(expectFrameError(() => decodeEvent(bytes), FrameErrorCode.BlockHashMismatch).fields.cid).toBe(stray.cid.toString())
    expect(decodeCommit(bytes, { verifyBlocks: 'records' }).ops[0]!.record).toEqual(LIKE)
  })

  it('a record addressed by a non-sha256 CID is FRAME_BAD_CAR when verifying', async () => {
    const bytesOfBlock = dagCbor.encode({ a: 1 })
    const cid = CID.createV1(dagCbor.code, identity.digest(bytesOfBlock))
    const parts = await commitParts([], { seq: 504, carBlocks: (blocks) => [...blocks, { cid, bytes: bytesOfBlock }] })
    parts.body.ops = [{ action: 'create', path: 'x.y.z/r', cid }]
    const bytes = message('#commit', parts.body)
    expect(expectFrameError(() => decodeEvent(bytes), FrameErrorCode.BadCar).seq).toBe(504)
    expect(decodeCommit(bytes, { verifyBlocks: false }).ops[0]!.record).toEqual({ a: 1 })
  })

  it('blocks that are not a CAR: FRAME_BAD_CAR with seq', async () => {
    const bytes = await commitFrame([], { seq: 505, override: { blocks: new Uint8Array([1, 2, 3]) } })
    expect(expectFrameError(() => decodeEvent(bytes), FrameErrorCode.BadCar).seq).toBe(505)
    const empty = await commitFrame([], { seq: 506, override: { blocks: new Uint8Array(0) } })
    expect(expectFrameError(() => decodeEvent(empty), FrameErrorCode.BadCar).seq).toBe(506)
  })

  it('a record nested deeper than the limit: FRAME_TOO_DEEP with seq and path, even with 100k levels', async () => {
    const deepRecord = (depth: number) => concat(hex('a1 61 61'), new Uint8Array(depth).fill(0x81), hex('01')) // {a: [[[...1]]]}
    for (const depth of [64, 100_000]) {
      const bytes = await commitPointingAt(await blockOfBytes(deepRecord(depth)), 507)
      const err = expectFrameError(() => decodeEvent(bytes), FrameErrorCode.TooDeep)
      expect(err.fields).toMatchObject({ seq: 507, path: 'x.y.z/r' })
    }
    // The record map is one level: 63 arrays inside it is exactly the default limit.
    let expected: unknown = 1
    for (let i = 0; i < 63; i++) expected = [expected]
    const ok = await commitPointingAt(await blockOfBytes(deepRecord(63)), 507)
    expect(decodeCommit(ok).ops[0]!.record).toEqual({ a: expected })
  })

  it('a record block that is not DAG-CBOR: FRAME_INVALID_CBOR with seq and path', async () => {
    const bytes = await commitPointingAt(await blockOfBytes(hex('a2 61 61 01 61 61 02')), 508) // duplicate key
    const err = expectFrameError(() => decodeEvent(bytes), FrameErrorCode.InvalidCbor)
    expect(err.fields).toMatchObject({ seq: 508, path: 'x.y.z/r' })
  })

  it('a record with an integer beyond 2^53 is FRAME_BAD_BODY (no lossy JSON)', async () => {
    const bytes = await commitFrame([{ action: 'create', path: 'x.y.z/big', record: { n: 2n ** 60n } }], { seq: 509 })
    const err = expectFrameError(() => decodeEvent(bytes), FrameErrorCode.BadBody)
    expect(err.fields).toMatchObject({ seq: 509, path: 'x.y.z/big' })
  })

  it('missing or malformed body fields: FRAME_BAD_BODY, with seq once it is known', async () => {
    const noSeq = await commitFrame([], { override: { seq: undefined } })
    expect(expectFrameError(() => decodeEvent(noSeq), FrameErrorCode.BadBody).seq).toBeUndefined()
    const negativeSeq = await commitFrame([], { override: { seq: -1 } })
    expectFrameError(() => decodeEvent(negativeSeq), FrameErrorCode.BadBody)
    // Found by the fuzz test: a BigInt seq made the error message itself throw a TypeError.
    const hugeSeq = await commitFrame([], { override: { seq: 2n ** 62n } })
    expectFrameError(() => decodeEvent(hugeSeq), FrameErrorCode.BadBody)
    for (const override of [{ repo: 1 }, { commit: 'bafy-not-a-link' }, { ops: null }, { blocks: 'abc' }, { ops: [1] }, { ops: [{ action: 'create' }] }, { blobs: ['x'] }]) {
      const bytes = await commitFrame([], { seq: 510, override })
      expect(expectFrameError(() => decodeEvent(bytes), FrameErrorCode.BadBody).seq, JSON.stringify(override)).toBe(510)
    }
  })
})
