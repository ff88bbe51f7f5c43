/**
 * Differential test: the official TypeScript stack decodes the same real frames independently
 * (@atproto/xrpc-server splits the frame, @atproto/sync parses commits and syncs as its Firehose
 * client does, @atproto/repo reads the CAR and records) and must agree with our codec.
 * Frames: everything in test/data/real plus the committed generated fixture.
 */
import { existsSync } from 'node:fs'
import { cborToLexRecord, readCar } from '@atproto/repo'
import { parseAccount, parseCommitUnauthenticated, parseSync } from '@atproto/sync'
import { lexToJson } from '@atproto/lexicon'
import { Frame } from '@atproto/xrpc-server'
import { describe, expect, it } from 'vitest'
import { decodeEvent } from '../../protocol/events.js'
import { openFixture } from '../../fixture-file/index.js'
import { peekFrame } from '../../protocol/peek.js'
import { type RealFrame, allRealFrames } from './helpers.js'

type Body = Record<string, unknown>

function officialSplit(bytes: Uint8Array): { t: string; body: Body } {
  const frame = Frame.fromBytes(bytes)
  if (!frame.isMessage()) throw new Error('real frames are all message frames')
  return { t: frame.header.t ?? '', body: frame.body as Body }
}

const COMMITTED_FIXTURE = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname

/** The committed generated fixture's frames too, when it exists: realistic signed commits in bulk. */
async function fixtureFrames(): Promise<RealFrame[]> {
  if (!existsSync(COMMITTED_FIXTURE)) return []
  const reader = await openFixture(COMMITTED_FIXTURE)
  const frames: RealFrame[] = []
  try {
    for await (const { bytes } of reader.frames()) frames.push({ name: `generated.fixture.gz #${frames.length}`, bytes })
  } finally {
    await reader.close()
  }
  return frames
}

const everyFrame = [...allRealFrames(), ...(await fixtureFrames())]
const commitFrames = everyFrame.filter(({ bytes }) => officialSplit(bytes).t === '#commit')

describe('differential: our codec vs @atproto/sync + @atproto/repo on real frames', () => {
  it('covers every real #commit frame (both sides agree which frames are commits)', () => {
    expect(commitFrames.length).toBeGreaterThan(20)
    expect(commitFrames.length).toBe(everyFrame.filter(({ bytes }) => peekFrame(bytes).t === '#commit').length)
  })

  it('commit ops and records equal what @atproto/sync parseCommitUnauthenticated yields', async () => {
    let records = 0
    for (const { name, bytes } of commitFrames) {
      const ours = decodeEvent(bytes)
      if (ours.type !== 'commit') throw new Error(`${name}: not a commit`)
      // @atproto/sync types the event with its lexicon; the body is that shape on the wire.
      const theirs = await parseCommitUnauthenticated(officialSplit(bytes).body as never)
      expect(ours.ops.length, name).toBe(theirs.length)
      for (const [i, op] of theirs.entries()) {
        const mine = ours.ops[i]!
        expect(mine.action, name).toBe(op.event)
        expect(mine.path, name).toBe(`${op.collection}/${op.rkey}`)
        expect(ours.repo, name).toBe(op.did)
        expect(ours.rev, name).toBe(op.rev)
        expect(ours.commit, name).toBe(op.commit.toString())
        if (op.event === 'delete') {
          expect(mine.cid, name).toBeNull()
          expect(mine.record, name).toBeNull()
        } else {
          expect(mine.cid, name).toBe(op.cid.toString())
          expect(mine.record, name).toEqual(lexToJson(op.record))
          records++
        }
      }
    }
    expect(records).toBeGreaterThan(60)
  })

  it('every CAR block and record equals what @atproto/repo readCar + cborToLexRecord decode', async () => {
    for (const { name, bytes } of commitFrames) {
      const ours = decodeEvent(bytes)
      if (ours.type !== 'commit') throw new Error(`${name}: not a commit`)
      const body = officialSplit(bytes).body
      const car = await readCar(body.blocks as Uint8Array) // verifies every block's CID, as we do
      for (const op of ours.ops) {
        if (op.cid === null) continue
        const block = car.blocks.get(op.cid as never)
        expect(block, `${name} ${op.path}`).toBeDefined()
        expect(op.record, `${name} ${op.path}`).toEqual(lexToJson(cborToLexRecord(block!)))
      }
    }
  })

  it('#sync and #account events agree with @atproto/sync parseSync / parseAccount', async () => {
    let checked = 0
    for (const { name, bytes } of everyFrame) {
      const { t, body } = officialSplit(bytes)
      const ours = decodeEvent(bytes)
      if (t === '#sync' && ours.type === 'sync') {
        const theirs = await parseSync(body as never)
        if (!theirs) throw new Error(`${name}: @atproto/sync rejected the #sync event`)
        expect({ seq: ours.seq, did: ours.did, rev: ours.rev, commit: ours.commit, time: ours.time }, name).toEqual({
          seq: theirs.seq,
          did: theirs.did,
          rev: theirs.rev,
          commit: theirs.cid.toString(),
          time: theirs.time,
        })
        checked++
      }
      if (t === '#account' && ours.type === 'account') {
        const theirs = parseAccount(body as never)
        if (!theirs) throw new Error(`${name}: @atproto/sync rejected the #account event`)
        expect({ seq: ours.seq, did: ours.did, active: ours.active, status: ours.status ?? undefined, time: ours.time }, name).toEqual({
          seq: theirs.seq,
          did: theirs.did,
          active: theirs.active,
          status: theirs.status,
          time: theirs.time,
        })
        checked++
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5)
  })
})
