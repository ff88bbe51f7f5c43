import type { Redis } from 'ioredis'
import { repoStateKeyOf } from '../../common/contract.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import { decodeEvent, type FirehoseEvent } from '../../protocol/events.js'
import type { ReplayHandle } from '../../replay/index.js'
import { decodeRepoState } from '../../repo-sync/repo-state-codec.js'
import { diffRepos, ModelAppView, type ModelRecord, type Repos } from '../../stream-check/model-appview.js'
import { didKeyOf, verifiedRecords } from '../replay/repo-truth.js'
import { loadIngestor, readStream, replay, uniqueKeys } from './helpers.js'

/**
 * A `--repo-state` run against a replay for the end-to-end tests of the replay's repo faults: an
 * in-process ingestor (from dist/) with the replay as PDS and PLC directory, run until every frame
 * the client was sent is written and no repo waits for a resync; then the stream read back into
 * the model AppView, and the truth as the replay's getRepo serves it at the end.
 */
export interface RepoStateRun {
  handle: IngestorHandle
  keys: ReturnType<typeof uniqueKeys>
}

/**
 * A replay of `fixture` at 300 events/s that loses the commit at frame `lost.index` and sends its
 * repo's first getRepo at `bytesPerSec`: the repo resyncs while the relay goes on, so its next
 * commits are held.
 */
export function slowResyncRelay(fixture: string, seed: number, lost: { index: number; did: string }, bytesPerSec: number): Promise<ReplayHandle> {
  return replay([fixture], {
    start: 'first-client',
    seed,
    rate: { mode: 'rate', eventsPerSec: 300 },
    faults: [
      { kind: 'swallow', atFrame: lost.index, count: 1 },
      { kind: 'get-repo-slow', did: lost.did, bytesPerSec },
    ],
  })
}

/** `keys`: another run's (a restart on them resumes from their stored cursor: pass `startCursor: null`). */
export async function startRepoStateIngestor(redisUrl: string, relay: ReplayHandle, extra: Partial<IngestorOptions> = {}, keys = uniqueKeys('test:repo-state')): Promise<RepoStateRun> {
  const { startIngestor } = await loadIngestor()
  const handle = await startIngestor({
    // `extra.relayUrls` (failover) names the relays instead.
    ...(extra.relayUrls === undefined ? { relayUrl: relay.url } : {}),
    redisUrl,
    stream: keys.stream,
    cursorKey: keys.cursorKey,
    deadLetterStream: keys.dead,
    startCursor: 0,
    statusIntervalMs: 0,
    decodeWorkers: 0,
    repoState: true,
    allowPrivateHosts: true,
    plcUrl: relay.plcUrl,
    ...(process.env.DEBUG_REPO_STATE ? { logger: (await import('../../common/logger.js')).createLogger({ name: 'repo-state-faults', level: 'debug' }) } : {}),
    ...extra,
  })
  return { handle, keys }
}

/** The stored sync state of every DID in a per-repo state hash (`<stream>:repos`, or a shard's colocated one). */
export async function storedStates(admin: Redis, key: string): Promise<Map<string, string>> {
  const raw = await admin.hgetallBuffer(key)
  return new Map(Object.entries(raw).map(([did, value]) => [did, decodeRepoState(value).sync]))
}

/**
 * Waits until the ingestor has written up to the last seq the client is sent (the fixture's last
 * seq moved up by the `inserted` frames the faults add) and every stored repo is synchronized (no
 * resync pending or running).
 */
export async function settle(run: RepoStateRun, relay: ReplayHandle, admin: Redis, lastSeq: number, inserted: number, what: string): Promise<void> {
  const finalSeq = lastSeq + inserted
  await waitUntil(() => (run.handle.status().storedCursor ?? -1) >= finalSeq, { what: `cursor ${finalSeq} (${what})`, timeoutMs: 60_000 })
  let states = new Map<string, string>()
  await waitUntil(async () => [...(states = await storedStates(admin, repoStateKeyOf(run.keys.stream))).values()].every((sync) => sync === 'synchronized'), {
    what: `every repo synchronized (${what}); not yet: ${JSON.stringify([...states].filter(([, sync]) => sync !== 'synchronized'))}`,
    timeoutMs: 60_000,
  })
}

export async function modelOf(redisUrl: string, stream: string): Promise<ModelAppView> {
  const model = new ModelAppView()
  for (const fields of await readStream(redisUrl, stream)) model.applyFields(fields)
  return model
}

/** Every record any commit of the frames wrote, by CID (records are content-addressed: a CID names one record). */
function recordsByCid(events: readonly FirehoseEvent[]): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const event of events) if (event.type === 'commit') for (const op of event.ops) if (op.cid !== null) out.set(op.cid, op.record)
  return out
}

/**
 * `truth` with the repos of `dids` replaced by what the replay's getRepo serves for them now,
 * checked by @atproto/repo against the DID document's key (a reset repo is signed with its
 * account's key); each record's JSON from the frame that wrote it.
 */
export async function servedTruth(relay: ReplayHandle, truth: Repos, dids: Iterable<string>, frames: readonly Uint8Array[], didDocs: Record<string, Record<string, unknown>>): Promise<Repos> {
  const records = recordsByCid(frames.map((bytes) => decodeEvent(bytes)))
  const out: Repos = new Map(truth)
  for (const did of dids) {
    const res = await fetch(`${relay.httpUrl}/xrpc/com.atproto.sync.getRepo?did=${did}`)
    if (res.status !== 200) throw new Error(`getRepo ${did}: ${res.status} ${await res.text()}`)
    const served = await verifiedRecords(new Uint8Array(await res.arrayBuffer()), did, didKeyOf(didDocs[did]!))
    out.set(did, new Map([...served.records].map(([path, cid]): [string, ModelRecord] => [path, { cid, record: records.get(cid) }])))
  }
  return out
}

/** The model AppView read from the stream against `expected`: the lines that differ (none: equal). */
export async function modelDiff(redisUrl: string, stream: string, expected: Repos): Promise<string[]> {
  return diffRepos((await modelOf(redisUrl, stream)).repos(), expected)
}
