import { readFileSync } from 'node:fs'
import { Secp256k1Keypair } from '@atproto/crypto'
import { CarBufferReader } from '@ipld/car/buffer-reader'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { AccountRepo } from '../../generator/account-repo.js'
import { CarBuilder } from '../../protocol/car-writer.js'
import { commitFrame } from '../../generator/frames.js'
import { decodeFrame, encodeFrame } from '../../protocol/frame.js'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { committedFixture } from './helpers.js'

/** Frames and DID documents for --verify tests: the committed fixture (really signed) and hand-made variants. */

export type DidDocs = Record<string, Record<string, unknown>>

export async function committedFramesAndDocs(): Promise<{ frames: Uint8Array[]; docs: DidDocs }> {
  const frames = await readFixtureFrames(committedFixture)
  return { frames, docs: JSON.parse(readFileSync(`${committedFixture}.did-docs.json`, 'utf8')) as DidDocs }
}

export function frameType(bytes: Uint8Array): { t: string; seq: number; did: string } {
  const { header, body } = decodeFrame(bytes)
  return { t: header.op === 1 ? header.t : 'error', seq: body.seq as number, did: String(body.repo ?? body.did) }
}

/** The frame with its body changed by `mutate` (header kept). */
export function rewriteFrame(bytes: Uint8Array, mutate: (body: Record<string, unknown>) => void): Uint8Array {
  const { header, body } = decodeFrame(bytes)
  const copy = { ...body }
  mutate(copy)
  return encodeFrame(header, copy)
}

/**
 * The #commit with its commit block changed by `mutate` and re-addressed (new CID, CAR root and
 * `commit`), so every block still hashes to its CID: only the signature check can notice.
 */
export async function recommit(bytes: Uint8Array, mutate: (commit: Record<string, unknown>) => void): Promise<Uint8Array> {
  const { header, body } = decodeFrame(bytes)
  const reader = CarBufferReader.fromBytes(body.blocks as Uint8Array)
  const oldRoot = reader.getRoots()[0]!
  const commit = { ...dagCbor.decode<Record<string, unknown>>(reader.get(oldRoot)!.bytes) }
  mutate(commit)
  const commitBytes = dagCbor.encode(commit)
  const root = CID.createV1(dagCbor.code, await sha256.digest(commitBytes))
  const car = new CarBuilder().add(root, commitBytes)
  for (const block of reader.blocks()) if (!block.cid.equals(oldRoot)) car.add(block.cid, block.bytes)
  return encodeFrame(header, { ...body, commit: root, blocks: car.encode(root) })
}

/** A DID document as plc.directory or a did:web host serves it, with `key` as its #atproto Multikey. */
export function didDoc(did: string, key: Secp256k1Keypair): Record<string, unknown> {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    alsoKnownAs: [`at://${did.replace(/^did:web:/, '')}`],
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: key.did().slice('did:key:'.length) }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
  }
}

/**
 * `count` sync-1.1 #commit frames of a fresh repository of `did` (one like each), signed with
 * `keyFor(i)` (a rotation: different keys for different commits), seqs from `firstSeq`.
 */
export async function accountCommits(did: string, keyFor: (i: number) => Secp256k1Keypair, count: number, firstSeq: number): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = []
  // Commits are signed by the repo's keypair; a rotation re-creates the signer on the same tree.
  let { repo } = await AccountRepo.create(did, keyFor(0), [], rev(0), false)
  let signer = keyFor(0)
  for (let i = 0; i < count; i++) {
    if (keyFor(i) !== signer) {
      signer = keyFor(i)
      repo = Object.assign(Object.create(Object.getPrototypeOf(repo) as object) as AccountRepo, repo, { keypair: signer })
    }
    const commit = await repo.commit(
      [
        {
          action: 'create',
          collection: 'app.bsky.feed.like',
          rkey: rev(i + 1),
          record: {
            $type: 'app.bsky.feed.like',
            subject: { uri: 'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3l', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
            createdAt: new Date(Date.UTC(2025, 5, 2, 14, 0, i)).toISOString(),
          },
        },
      ],
      rev(i + 1),
    )
    frames.push(commitFrame({ seq: firstSeq + i, timeUs: Date.UTC(2025, 5, 2, 14, 0, i) * 1000 }, did, commit))
  }
  return frames
}

/** TID-shaped revs that sort in order. */
function rev(i: number): string {
  return `3lbc${String(i)
    .padStart(9, '2')
    .replace(/[0189]/g, 'a')}`
}

export function keypair(): Promise<Secp256k1Keypair> {
  return Secp256k1Keypair.create()
}
