import { verifyRepoCar } from '@atproto/repo'
import { decodeEvent } from '../../protocol/events.js'
import { groundTruth } from '../../stream-check/ground-truth.js'

/** A repo as the frames say it is, worked out apart from the replay. */
export interface TruthRepo {
  /** `collection/rkey` -> record CID. */
  records: Map<string, string>
  head: { cid: string; rev: string } | null
  active: boolean
  status: string | null
  /** Its first frame with a commit created it (since null): every record is in the frames. */
  fromCreation: boolean
}

/**
 * The repos after the first `count` frames: their records from test/support/ground-truth.ts (every
 * commit's ops applied in order), their head from the last #commit or #sync, their status from the
 * last #account. Decoded with the frame codec, blocks checked.
 */
export function truthAfter(frames: readonly Uint8Array[], count = frames.length): Map<string, TruthRepo> {
  const published = frames.slice(0, count)
  const records = groundTruth(published)
  const repos = new Map<string, TruthRepo>()
  const repoOf = (did: string): TruthRepo => {
    let repo = repos.get(did)
    if (repo === undefined) {
      const own = new Map([...(records.get(did) ?? [])].map(([path, record]) => [path, record.cid]))
      repos.set(did, (repo = { records: own, head: null, active: true, status: null, fromCreation: false }))
    }
    return repo
  }
  for (const bytes of published) {
    const event = decodeEvent(bytes)
    if (event.type === 'commit') {
      const repo = repoOf(event.repo)
      if (repo.head === null) repo.fromCreation = event.since === null
      repo.head = { cid: event.commit, rev: event.rev }
    } else if (event.type === 'sync') {
      repoOf(event.did).head = { cid: event.commit, rev: event.rev }
    } else if (event.type === 'account') {
      const repo = repoOf(event.did)
      repo.active = event.active
      repo.status = event.active ? null : event.status
    }
  }
  return repos
}

/** A getRepo CAR checked with @atproto/repo (block hashes, commit signature with the DID's key, MST walk); its records as `collection/rkey` -> CID, and its commit. */
export async function verifiedRecords(car: Uint8Array, did: string, didKey: string): Promise<{ records: Map<string, string>; rev: string; commit: string }> {
  const verified = await verifyRepoCar(car, did, didKey)
  const records = new Map(verified.creates.map((create) => [`${create.collection}/${create.rkey}`, create.cid.toString()]))
  return { records, rev: verified.commit.rev, commit: verified.commit.cid.toString() }
}

/** The did:key of the DID document's #atproto Multikey. */
export function didKeyOf(doc: Record<string, unknown>): string {
  const methods = doc.verificationMethod as { id: string; publicKeyMultibase: string }[]
  return `did:key:${methods.find((method) => method.id.endsWith('#atproto'))!.publicKeyMultibase}`
}
