import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeEvent, type FirehoseEvent } from '../../protocol/events.js'
import { FAULT_LIMITS, parseFaultFlag, parseFaultSpec } from '../../replay/faults.js'
import { startReplay, withSeq, type FaultSpec } from '../../replay/index.js'
import { accountFrame, futureRev, revAfter, withCommitRev } from '../../replay/repo-fault-frames.js'
import { compareRevs, isTid, tidTimestampMs } from '../../repo-sync/tid.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { sameBytes, seqOf, subscribe, until } from './helpers.js'

/** The per-client repo faults of the replay (future-rev, rev-regress, takedown): what they send, and the seqs inserted frames get. */
const SEED = 1819
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'repo-faults.fixture.gz', { events: 200, accounts: 8, medianRecords: 4, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
}, 60_000)
afterAll(async () => tmp?.cleanup())

const events = (): FirehoseEvent[] => frames.map((bytes) => decodeEvent(bytes))
/** Index of the first #commit at or after `from` (of `did` when given). */
const nextCommit = (from: number, did?: string): number => events().findIndex((event, i) => i >= from && event.type === 'commit' && (did === undefined || event.repo === did))
const repoOf = (index: number): string => (events()[index] as Extract<FirehoseEvent, { type: 'commit' }>).repo

/** Plays the fixture to one client with these faults; returns what it received once it has `expected` frames. */
async function played(faults: FaultSpec[], expected: number): Promise<{ received: Uint8Array[]; records: { kind: string; seqs: number[] }[] }> {
  const replay = await startReplay({ files: [generated.path], start: 'first-client', faults, seed: SEED })
  const client = subscribe(replay.url)
  try {
    await client.waitFor(expected)
    const status = await until(replay, (s) => s.finished)
    return { received: client.frames, records: status.clients[0]!.faults }
  } finally {
    await client.close()
    await replay.close()
  }
}

const increasing = (received: Uint8Array[]): boolean => received.map(seqOf).every((seq, i, all) => i === 0 || seq! > all[i - 1]!)

describe('repo fault specs: validated like every fault, with bounds (docs/replay.md)', () => {
  test.each([
    ['future-rev', 'aheadSec', FAULT_LIMITS.aheadSec],
    ['rev-regress', 'afterFrames', FAULT_LIMITS.frames],
    ['takedown', 'reactivateAfterFrames', FAULT_LIMITS.frames],
    ['sync-reset', 'removeRecords', FAULT_LIMITS.removeRecords],
    ['sync-storm', 'removeRecords', FAULT_LIMITS.removeRecords],
    ['sync-storm', 'count', FAULT_LIMITS.count],
  ])('%s %s: max %d accepted, max + 1 refused', (kind, field, max) => {
    const did = kind === 'takedown' || kind === 'sync-reset' ? { did: 'did:plc:x' } : {}
    expect(parseFaultSpec({ kind, ...did, [field]: max })).toMatchObject({ [field]: max })
    expect(() => parseFaultSpec({ kind, ...did, [field]: max + 1 })).toThrow(new RegExp(`${field} must be an integer in \\[1, ${max}\\]`))
  })

  test('takedown and sync-reset need a did; the flag syntax and unknown fields as for every fault', () => {
    expect(() => parseFaultSpec({ kind: 'takedown' })).toThrow(/takedown needs a did/)
    expect(() => parseFaultSpec({ kind: 'sync-reset' })).toThrow(/sync-reset needs a did/)
    expect(parseFaultFlag('future-rev:aheadSec=60,atFrame=5..9,client=2')).toEqual({ kind: 'future-rev', aheadSec: 60, atFrame: [5, 9], client: 2 })
    expect(() => parseFaultSpec({ kind: 'rev-regress', bytes: 1 })).toThrow(/rev-regress takes no field "bytes"/)
  })
})

describe('repo faults through the control API, as every fault', () => {
  test('POST /_replay/fault takedown: applied like a planned one', async () => {
    const replay = await startReplay({ files: [generated.path], start: 'paused', seed: SEED })
    const client = subscribe(replay.url)
    try {
      await until(replay, (s) => s.clients.length === 1)
      const did = repoOf(nextCommit(0))
      const res = await fetch(`${replay.httpUrl}/_replay/fault`, { method: 'POST', body: JSON.stringify([{ kind: 'takedown', did, atFrame: 10 }]) })
      expect(await res.json()).toEqual({ ok: true, injected: 1 })
      replay.resume()
      await client.waitFor(frames.length + 1)
      expect(decodeEvent(client.frames[10]!)).toMatchObject({ type: 'account', did, active: false, status: 'takendown', seq: seqOf(frames[9]!)! + 1 })
      const refused = await fetch(`${replay.httpUrl}/_replay/fault`, { method: 'POST', body: JSON.stringify({ kind: 'takedown' }) })
      expect(refused.status).toBe(400)
    } finally {
      await client.close()
      await replay.close()
    }
  })
})

describe('revs and frames the repo faults make', () => {
  const rev = '3lqbyk2lbwc2a'
  test('futureRev: a TID aheadSec after now with the clock id kept; revAfter: the next TID, above the rev and below any later time', () => {
    const now = Date.now()
    const ahead = futureRev(rev, now, 3600)
    expect(isTid(ahead)).toBe(true)
    expect(Math.abs(tidTimestampMs(ahead) - (now + 3_600_000))).toBeLessThan(1)
    expect(ahead.slice(-2)).toBe(rev.slice(-2))
    const next = revAfter(rev)
    expect(compareRevs(next, rev)).toBe(1)
    expect(tidTimestampMs(next) - tidTimestampMs(rev)).toBeLessThanOrEqual(0.001)
    expect(revAfter('3lqbyk2lbwc2z')).toBe('3lqbyk2lbwc32') // the clock id rolls over into the timestamp
  })

  test('withCommitRev changes the body rev only (the commit block keeps its own); other frames are not commits', () => {
    const index = nextCommit(0)
    const original = decodeEvent(frames[index]!)
    const rewritten = decodeEvent(withCommitRev(frames[index]!, '7zzzzzzzzzzzz')!)
    expect(rewritten).toEqual({ ...original, rev: '7zzzzzzzzzzzz' })
    expect(withCommitRev(accountFrame('did:plc:x', true), rev)).toBeNull()
    expect(decodeEvent(withSeq(accountFrame('did:plc:x', false, 'takendown'), 7))).toMatchObject({ type: 'account', seq: 7, did: 'did:plc:x', active: false, status: 'takendown' })
  })
})

describe('per-client repo faults on a replay: only the frames they name change, inserted frames get the next seq and later frames move up', () => {
  test('future-rev: the next #commit of the DID carries a rev an hour ahead; every other frame is as recorded', async () => {
    const first = nextCommit(20)
    const did = repoOf(first)
    const target = nextCommit(first + 1, did)
    const { received, records } = await played([{ kind: 'future-rev', atFrame: first + 1, did }], frames.length)
    expect(received).toHaveLength(frames.length)
    for (const [i, bytes] of received.entries()) if (i !== target) expect(sameBytes(bytes, frames[i]!), `frame ${i}`).toBe(true)
    const sent = decodeEvent(received[target]!)
    expect(sent).toEqual({ ...decodeEvent(frames[target]!), rev: expect.any(String) as string })
    expect(tidTimestampMs((sent as { rev: string }).rev) - Date.now()).toBeGreaterThan(3_500_000)
    expect(records).toEqual([{ kind: 'future-rev', atFrame: first + 1, seqs: [seqOf(frames[target]!)] }])
  })

  test('rev-regress: the next #commit is sent again afterFrames later, as recorded but with a seq of its own', async () => {
    const at = 30
    const target = nextCommit(at)
    const { received, records } = await played([{ kind: 'rev-regress', atFrame: at, afterFrames: 3 }], frames.length + 1)
    expect(received).toHaveLength(frames.length + 1)
    const copyAt = target + 4
    for (let i = 0; i < copyAt; i++) expect(sameBytes(received[i]!, frames[i]!), `frame ${i}`).toBe(true)
    const copySeq = seqOf(frames[copyAt - 1]!)! + 1
    expect(sameBytes(received[copyAt]!, withSeq(frames[target]!, copySeq))).toBe(true)
    for (let i = copyAt + 1; i < received.length; i++) expect(sameBytes(received[i]!, withSeq(frames[i - 1]!, seqOf(frames[i - 1]!)! + 1)), `frame ${i}`).toBe(true)
    expect(increasing(received)).toBe(true)
    expect(records).toEqual([{ kind: 'rev-regress', atFrame: at, seqs: [copySeq] }])
  })

  test('takedown: an #account takendown at the fault, #account active reactivateAfterFrames later; seqs stay one increasing run', async () => {
    const at = 40
    const did = repoOf(nextCommit(at))
    const { received, records } = await played([{ kind: 'takedown', atFrame: at, did, reactivateAfterFrames: 5 }], frames.length + 2)
    expect(received).toHaveLength(frames.length + 2)
    const inserted = received.map((bytes, i) => ({ i, event: decodeEvent(bytes) })).filter(({ i }) => i === at || i === at + 6)
    expect(inserted.map(({ event }) => event)).toMatchObject([
      { type: 'account', did, active: false, status: 'takendown', seq: seqOf(frames[at - 1]!)! + 1 },
      { type: 'account', did, active: true, status: null, seq: seqOf(frames[at + 4]!)! + 2 },
    ])
    expect(sameBytes(received[at + 1]!, withSeq(frames[at]!, seqOf(frames[at]!)! + 1))).toBe(true)
    expect(sameBytes(received.at(-1)!, withSeq(frames.at(-1)!, seqOf(frames.at(-1)!)! + 2))).toBe(true)
    expect(increasing(received)).toBe(true)
    expect(records).toEqual([{ kind: 'takedown', atFrame: at, seqs: [seqOf(frames[at - 1]!)! + 1, seqOf(frames[at + 4]!)! + 2] }])
  })
})
