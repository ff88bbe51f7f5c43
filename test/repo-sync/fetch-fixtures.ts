import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MST, MemoryBlockstore, readCarWithRoot } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { SeededRandom } from '../../common/random.js'
import type { Timers } from '../../common/timers.js'
import { AccountRepo, type RecordWrite } from '../../generator/account-repo.js'
import { createIdentity, didDocument, importKeypair } from '../../generator/identity.js'
import * as lex from '../../generator/records.js'
import { tidFromTime } from '../../generator/tid.js'
import { CarBuilder } from '../../protocol/car-writer.js'
import { createRepoFetcher, type RepoFetchConfig, type RepoFetchParts } from '../../repo-sync/create-fetcher.js'
import type { FetchedRepo, RepoRecord } from '../../repo-sync/fetch-types.js'
import { REAL_DATA } from '../shared-data.js'
import type { FetchServer } from './fetch-server.js'

/** The real repository exports (test/data/real/README.md): two v3 repos and a v2 one. */
export const REAL_CARS = {
  bnewbold: { did: 'did:plc:nhxcyu4ewwhl5pqil4dotqjo', car: readFileSync(join(REAL_DATA, 'repo-cars', 'bnewbold.robocracy.org.20250310005405.car')) },
  greenground: { did: 'did:plc:kzcqyc3unb33eh5sxzsfs25z', car: readFileSync(join(REAL_DATA, 'repo-cars', 'greenground.repo.car')) },
  /** A v2 repo (commit without rev, version 2): refused, as no live PDS serves one. */
  paulStagingV2: { did: 'did:plc:cmpvykrzb2l22kj4ojlv3ox4', car: readFileSync(join(REAL_DATA, 'repo-cars', 'paul_staging.repo.car')) },
}

export interface GeneratedRepo {
  did: string
  car: Uint8Array
  rev: string
  /** The account's DID document with its PDS at `pds`. */
  docAt(pds: URL): Record<string, unknown>
}

/**
 * A repository made by the generator (its identity, records, MST builder and signing): `count`
 * likes, follows, reposts and blocks plus a profile, two of them identical (one record CID under
 * two keys), exported as the repo's first commit, which carries every block.
 */
export async function generatedRepo(seed: number, count: number): Promise<GeneratedRepo> {
  const identity = createIdentity(seed, 0)
  const keypair = await importKeypair(identity)
  const random = new SeededRandom(seed)
  const startUs = Date.UTC(2025, 0, 1) * 1000
  const writes: RecordWrite[] = [{ action: 'create', collection: 'app.bsky.actor.profile', rkey: 'self', record: lex.profile(random, 'Gen', startUs / 1000) }]
  const someone = (): string => createIdentity(seed, random.int(1, 1000)).did
  const subject = (): lex.StrongRef => ({ uri: `at://${someone()}/app.bsky.feed.post/${tidFromTime(startUs - random.int(1, 1e9), 7)}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' })
  for (let i = 0; i < count; i++) {
    const timeUs = startUs + i * 1_000_000 + random.int(0, 999_999)
    const rkey = tidFromTime(timeUs, identity.clockId)
    const kind = random.pick(['like', 'like', 'follow', 'repost', 'block'] as const)
    const record =
      kind === 'like' ? lex.like(subject(), timeUs / 1000) : kind === 'repost' ? lex.repost(subject(), timeUs / 1000) : kind === 'follow' ? lex.follow(someone(), timeUs / 1000) : lex.block(someone(), timeUs / 1000)
    writes.push({ action: 'create', collection: record.$type, rkey, record })
  }
  const twin = lex.follow(createIdentity(seed, 1).did, startUs / 1000)
  writes.push({ action: 'create', collection: twin.$type, rkey: tidFromTime(startUs - 2, identity.clockId), record: twin })
  writes.push({ action: 'create', collection: twin.$type, rkey: tidFromTime(startUs - 1, identity.clockId), record: { ...twin } })
  const rev = tidFromTime(startUs + count * 1_000_000 + 1_000_000, identity.clockId)
  const { commit } = await AccountRepo.create(identity.did, keypair, writes, rev, true)
  return {
    did: identity.did,
    car: commit!.car,
    rev,
    docAt: (pds) => ({ ...didDocument(identity, 'gen.test', keypair), service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds.origin }] }),
  }
}

/** A CAR's root and blocks, in the CAR's order. */
export async function carBlocks(car: Uint8Array): Promise<{ root: Awaited<ReturnType<typeof readCarWithRoot>>['root']; blocks: { cid: { bytes: Uint8Array; toString(): string }; bytes: Uint8Array }[] }> {
  const { root, blocks } = await readCarWithRoot(car)
  return { root, blocks: [...blocks].map(([cid, bytes]) => ({ cid, bytes })) }
}

/** The same blocks under another root, or in another order, or with some left out: a CAR written by the project's CarBuilder. */
export async function rewriteCar(car: Uint8Array, change: { order?: 'commit-first' | 'reverse' | 'shuffle'; random?: SeededRandom; drop?: (cid: string) => boolean; root?: string }): Promise<Uint8Array> {
  const { root, blocks } = await carBlocks(car)
  let ordered = [...blocks]
  if (change.order === 'reverse') ordered.reverse()
  if (change.order === 'commit-first') ordered = [...ordered.filter((b) => b.cid.toString() === root.toString()), ...ordered.filter((b) => b.cid.toString() !== root.toString())]
  if (change.order === 'shuffle') {
    const random = change.random!
    for (let i = ordered.length - 1; i > 0; i--) {
      const j = random.int(0, i)
      ;[ordered[i], ordered[j]] = [ordered[j]!, ordered[i]!]
    }
  }
  const builder = new CarBuilder()
  for (const block of ordered) if (change.drop?.(block.cid.toString()) !== true) builder.add(block.cid, block.bytes)
  return builder.encode(change.root === undefined ? root : CID.parse(change.root))
}

/** The records as @atproto/repo reads the same CAR (its MST, its CAR reader): the reference to cross-check against. */
export async function referenceRecords(car: Uint8Array): Promise<{ rev: string; data: string; records: { collection: string; rkey: string; cid: string; bytes: Uint8Array }[] }> {
  const { root, blocks } = await readCarWithRoot(car)
  const commit = dagCbor.decode<{ rev: string; data: Parameters<typeof MST.load>[1] }>(blocks.get(root)!)
  const leaves = await MST.load(new MemoryBlockstore(blocks), commit.data).list()
  return {
    rev: commit.rev,
    data: commit.data.toString(),
    records: leaves.map((leaf) => {
      const [collection, rkey] = leaf.key.split('/') as [string, string]
      return { collection, rkey, cid: leaf.value.toString(), bytes: Uint8Array.from(blocks.get(leaf.value)!) }
    }),
  }
}

export async function readAll(repo: FetchedRepo): Promise<RepoRecord[]> {
  const out: RepoRecord[] = []
  for await (const record of repo.records()) out.push({ ...record, bytes: Uint8Array.from(record.bytes) })
  return out
}

/** A fetcher for tests: the PLC directory is `plc`, private hosts allowed unless said otherwise, seeded jitter. */
export function testFetcher(plc: FetchServer, timers: Timers, config: Partial<RepoFetchConfig> = {}, seed = 1): RepoFetchParts {
  return createRepoFetcher({ did: { plcUrl: plc.url.href }, allowPrivateHosts: true, ...config }, timers, new SeededRandom(seed))
}
