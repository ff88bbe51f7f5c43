import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeEvent, type FirehoseEvent } from '../../protocol/events.js'
import { startReplay, type FaultSpec, type ReplayHandle, type ReplayStatus } from '../../replay/index.js'
import { revAfter } from '../../replay/repo-fault-frames.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { generatedSigningKeys } from '../support/generated-keys.js'
import { seqOf, subscribe, until } from './helpers.js'
import { didKeyOf, truthAfter, verifiedRecords, type TruthRepo } from './repo-truth.js'

/**
 * sync-reset and sync-storm: the repo reset at the replay's PDS (getRepo, getLatestCommit serve it
 * from the fault on, signed with the repo's key) and a #sync frame naming its new commit sent to
 * the client, right after the fault's frame (the timeline holds while the reset is made).
 */
const SEED = 1820
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'repo-resets.fixture.gz', { events: 300, accounts: 12, medianRecords: 6, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
}, 60_000)
afterAll(async () => tmp?.cleanup())

const SYNC = '/xrpc/com.atproto.sync.'
const lastCommitIndex = (did: string): number => frames.findLastIndex((bytes) => ((event: FirehoseEvent) => event.type === 'commit' && event.repo === did)(decodeEvent(bytes)))
/** The active repo whose last commit comes first, and the frame after it: from there on getRepo serves its reset. */
function quietRepo(): { at: number; did: string; repo: TruthRepo } {
  const atEnd = [...truthAfter(frames)].filter(([, repo]) => repo.head !== null && repo.active && repo.records.size > 1)
  const [did] = atEnd.map(([did]) => did).sort((a, b) => lastCommitIndex(a) - lastCommitIndex(b))
  const at = lastCommitIndex(did!) + 1
  return { at, did: did!, repo: truthAfter(frames, at).get(did!)! }
}

async function getRepo(replay: ReplayHandle, did: string): Promise<Uint8Array> {
  const res = await fetch(`${replay.httpUrl}${SYNC}getRepo?did=${did}`)
  expect(res.status, await res.clone().text()).toBe(200)
  return new Uint8Array(await res.arrayBuffer())
}

async function played(faults: FaultSpec[], keys = true): Promise<{ replay: ReplayHandle; received: Uint8Array[]; status: ReplayStatus }> {
  const replay = await startReplay({ files: [generated.path], start: 'first-client', faults, seed: SEED, ...(keys ? { signingKeys: generatedSigningKeys(generated.manifest) } : {}) })
  const client = subscribe(replay.url)
  try {
    const status = await until(replay, (s) => s.finished && s.repoResets.length > 0 && s.clients[0]!.framesSent >= frames.length + s.repoResets.length)
    await client.waitFor(status.clients[0]!.framesSent)
    return { replay, received: client.frames, status }
  } finally {
    await client.close()
  }
}

describe('sync-reset: the repo loses records at a new rev, getRepo serves it so, and the client gets its #sync', () => {
  test('a repo that commits no more: getRepo at the end is the repo at the fault minus the records removed, signed with its key', async () => {
    const { at, did, repo } = quietRepo()
    const { replay, received, status } = await played([{ kind: 'sync-reset', atFrame: at, did }])
    try {
      const rev = revAfter(repo.head!.rev)
      expect(status.repoResets).toEqual([{ kind: 'sync-reset', did, rev, removed: Math.ceil(repo.records.size / 2), atFrame: at }])
      const sync = decodeEvent(received[at]!)
      expect(sync).toMatchObject({ type: 'sync', did, rev, seq: seqOf(frames[at - 1]!)! + 1 })
      const served = await verifiedRecords(await getRepo(replay, did), did, didKeyOf(generated.didDocs[did]!))
      expect(served.rev).toBe(rev)
      expect(served.commit).toBe((sync as { commit: string }).commit)
      expect(served.records.size).toBe(repo.records.size - Math.ceil(repo.records.size / 2))
      for (const [path, cid] of served.records) expect(repo.records.get(path), path).toBe(cid)
      expect(await (await fetch(`${replay.httpUrl}${SYNC}getLatestCommit?did=${did}`)).json()).toEqual({ cid: served.commit, rev })
      expect(status.clients[0]!.faults).toEqual([{ kind: 'sync-reset', atFrame: at, seqs: [seqOf(frames[at - 1]!)! + 1] }])
    } finally {
      await replay.close()
    }
  })

  test('a repo that commits again: its next commit is built on the records the fixture has, so getRepo at the end is the fixture repo', async () => {
    const at = 60
    const did = [...truthAfter(frames, at)].find(([d, r]) => r.head !== null && r.active && r.records.size > 1 && lastCommitIndex(d) > at)![0]
    const { replay, status } = await played([{ kind: 'sync-reset', atFrame: at, did, removeRecords: 1 }])
    try {
      expect(status.repoResets).toMatchObject([{ did, removed: 1 }])
      const served = await verifiedRecords(await getRepo(replay, did), did, didKeyOf(generated.didDocs[did]!))
      expect(served.records).toEqual(truthAfter(frames).get(did)!.records)
    } finally {
      await replay.close()
    }
  })

  test('without the repo keys the reset is signed with a key of the replay: the CAR is whole, its signature does not verify', async () => {
    const { at, did } = quietRepo()
    const { replay } = await played([{ kind: 'sync-reset', atFrame: at, did }], false)
    try {
      await expect(verifiedRecords(await getRepo(replay, did), did, didKeyOf(generated.didDocs[did]!))).rejects.toThrow(/signature/i)
    } finally {
      await replay.close()
    }
  })
})

describe('sync-storm: every repo the replay can export at the fault (up to count) reset at once, one #sync each', () => {
  test('count beyond the repos: bounded by them; the #sync frames follow the fault frame, then the fixture goes on', async () => {
    const at = 150
    const repos = [...truthAfter(frames, at)].filter(([, r]) => r.head !== null && r.active)
    const { replay, received, status } = await played([{ kind: 'sync-storm', atFrame: at, count: 1000 }])
    try {
      expect(status.repoResets).toHaveLength(repos.length)
      expect(new Set(status.repoResets.map((reset) => reset.did))).toEqual(new Set(repos.map(([did]) => did)))
      const syncs = received.slice(at, at + repos.length).map((bytes) => decodeEvent(bytes))
      expect(syncs.map((event) => event.type === 'sync' && event.did)).toEqual(status.repoResets.map((reset) => reset.did))
      expect(syncs.map((event) => (event as { seq: number }).seq)).toEqual(repos.map((_, i) => seqOf(frames[at - 1]!)! + 1 + i))
      expect(decodeEvent(received[at + repos.length]!)).toEqual({ ...decodeEvent(frames[at]!), seq: seqOf(frames[at]!)! + repos.length })
      expect(status.getRepo).toEqual({ inFlight: 0, maxInFlight: 0, requests: 0 })
      await Promise.all(repos.slice(0, 3).map(([did]) => getRepo(replay, did)))
      expect(replay.status().getRepo).toMatchObject({ inFlight: 0, requests: 3 })
    } finally {
      await replay.close()
    }
  })
})
