import * as dagCbor from '@ipld/dag-cbor'
import { beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { readCommitBlock } from '../../ingestor/verify/commit-block.js'
import { readCanonicalCommit } from '../../protocol/commit-block.js'
import { readSignedFrame, type SignedFrame } from '../../ingestor/verify/signed-frame.js'
import { asSignedCommit, unsignedBytes } from '../../protocol/repo-commit.js'
import { committedFramesAndDocs } from './verify-frames.js'

/**
 * commit-block.ts reads the usual commit block in place and cuts `sig` out of its bytes; any other
 * block goes through @ipld/dag-cbor. Both must give what decoding and re-encoding gives (the path
 * before it): the same commit fields and unsigned bytes, the same null (not a v3 commit), or a
 * throw for both. Seeded mutations of real commit blocks; rerun one seed with COMMIT_BLOCK_SEED.
 */
const SEED = Number(process.env.COMMIT_BLOCK_SEED ?? 0xc0_4417)

type Outcome = 'throws' | null | { did: string; rev: string; sig: string; data: string; prev: string | null | undefined; version: number; unsigned: string }

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

function outcome(read: () => ReturnType<typeof readCommitBlock>): Outcome {
  let result: ReturnType<typeof readCommitBlock>
  try {
    result = read()
  } catch {
    return 'throws'
  }
  if (result === null) return null
  const { commit, unsigned } = result
  const prev = 'prev' in commit ? (commit.prev === null ? null : commit.prev.toString()) : undefined
  return { did: commit.did, rev: commit.rev, sig: hex(commit.sig), data: commit.data.toString(), prev, version: commit.version, unsigned: hex(unsigned) }
}

/** The path before commit-block.ts: decode, check, re-encode without sig. */
function reference(block: Uint8Array): Outcome {
  return outcome(() => {
    const commit = asSignedCommit(dagCbor.decode(block))
    return commit === null ? null : { commit, unsigned: unsignedBytes(commit) }
  })
}

function commitBlock(frame: SignedFrame): Uint8Array {
  return frame.car.get(frame.car.roots[0]!)!
}

describe('commit blocks: read in place, as decoding and re-encoding reads them', () => {
  let blocks: Uint8Array[]
  beforeAll(async () => {
    const { frames } = await committedFramesAndDocs()
    blocks = frames.flatMap((bytes) => {
      const frame = readSignedFrame(bytes)
      return frame === null || frame.t === '#identity' ? [] : [commitBlock(frame)]
    })
  })

  it('every commit of the committed fixture takes the fast path and gives the re-encoded unsigned bytes', () => {
    expect(blocks.length).toBeGreaterThan(1000)
    for (const block of blocks) {
      expect(readCanonicalCommit(block)).not.toBeNull()
      expect(outcome(() => readCommitBlock(block))).toEqual(reference(block))
    }
  })

  it('a commit without prev or with a long rev takes the fast path; others (extra fields, keys out of order, non-ASCII, non-minimal lengths) read as before', () => {
    const commit = dagCbor.decode<Record<string, unknown>>(blocks[0]!)
    const { prev: _prev, ...withoutPrev } = commit
    const noPrev = dagCbor.encode(withoutPrev)
    expect(reference(noPrev)).toMatchObject({ prev: undefined })
    for (const bytes of [noPrev, dagCbor.encode({ ...commit, rev: 'r'.repeat(300) })]) {
      expect(readCanonicalCommit(bytes)).not.toBeNull()
      expect(outcome(() => readCommitBlock(bytes))).toEqual(reference(bytes))
    }
    const cases: Uint8Array[] = [
      dagCbor.encode({ ...commit, extra: 1 }),
      dagCbor.encode({ ...commit, did: 'did:plc:é' }),
      dagCbor.encode({ ...commit, version: 2 }),
      dagCbor.encode({ ...commit, sig: 'not bytes' }),
      dagCbor.encode({ ...commit, data: 'not a link' }),
    ]
    // did and rev swapped (keys out of canonical order: dag-cbor reads it, re-encoding sorts it).
    const block = blocks[0]!
    const didEntry = Buffer.concat([Buffer.from(dagCbor.encode('did')), Buffer.from(dagCbor.encode(commit.did))])
    const revEntry = Buffer.concat([Buffer.from(dagCbor.encode('rev')), Buffer.from(dagCbor.encode(commit.rev))])
    cases.push(Buffer.concat([block.subarray(0, 1), revEntry, didEntry, block.subarray(1 + didEntry.length + revEntry.length)]))
    // did's length in two bytes where one would do (not minimal: dag-cbor refuses it).
    const did = Buffer.from(commit.did as string)
    cases.push(Buffer.concat([block.subarray(0, 4), Buffer.from([0x78, did.length]), did, block.subarray(4 + 1 + did.length)]))
    for (const bytes of cases) {
      expect(readCanonicalCommit(bytes)).toBeNull()
      expect(outcome(() => readCommitBlock(bytes))).toEqual(reference(bytes))
    }
    expect(reference(cases[0]!)).not.toBe('throws') // an extra field is still a commit
  })

  it(`random byte changes, insertions and truncations get the same outcome on both paths (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED)
    const kinds = { same: 0, throws: 0, null: 0 }
    for (let i = 0; i < 3000; i++) {
      const block = Buffer.from(random.pick(blocks))
      let bytes: Uint8Array
      const kind = random.int(0, 3)
      if (kind === 0) {
        bytes = block
        bytes[random.int(0, block.length - 1)] = random.int(0, 255)
      } else if (kind === 1) {
        const at = random.int(0, block.length - 1)
        bytes = Buffer.concat([block.subarray(0, at), Buffer.from([random.int(0, 255)]), block.subarray(at)])
      } else if (kind === 2) bytes = block.subarray(0, random.int(0, block.length - 1))
      else {
        // A small change to a header byte (a length or a count), where the two readers differ most.
        const at = random.pick([0, 1, 5, 40, 45, 70, 110, 118])
        bytes = block
        if (at < block.length) bytes[at] = (bytes[at]! + random.pick([-1, 1, 24, -24])) & 255
      }
      const expected = reference(bytes)
      expect(
        outcome(() => readCommitBlock(bytes)),
        `mutation ${i} (seed ${SEED}): ${hex(bytes)}`,
      ).toEqual(expected)
      kinds[expected === 'throws' ? 'throws' : expected === null ? 'null' : 'same']++
    }
    // The mutations reach every outcome: read, refused as no commit, refused as no DAG-CBOR.
    expect(Math.min(kinds.same, kinds.throws, kinds.null)).toBeGreaterThan(0)
  })
})
