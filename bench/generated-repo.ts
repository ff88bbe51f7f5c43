import { writeFile } from 'node:fs/promises'
import type { SeededRandom } from '../common/random.js'
import { AccountRepo, type RecordWrite } from '../generator/account-repo.js'
import { createIdentity, importKeypair } from '../generator/identity.js'
import * as lex from '../generator/records.js'
import { streamFor } from '../generator/seeds.js'
import { randomPhrase } from '../generator/text.js'
import { tidFromTime } from '../generator/tid.js'

/**
 * What a generated repo's records are: `social`, likes and follows (most of a large real repo);
 * `long-text`, long-form blog entries of ~4 KB of text each (a repo of few, large records).
 */
export type RecordKind = 'social' | 'long-text'

export interface GeneratedRepoSpec {
  /** The account is the generator's identity `index` of `seed`; its records come from a stream of the same pair. */
  seed: number
  index: number
  records: number
  kind: RecordKind
}

export interface GeneratedRepo {
  did: string
  records: number
  /** Size of the CAR file. */
  bytes: number
  /** The commit's rev and CID. */
  rev: string
  commit: string
}

/** A generated account's repo (the generator's MST builder and signing, one commit holding every record), written to `file` as a CAR. */
export async function writeGeneratedRepo(file: string, spec: GeneratedRepoSpec): Promise<GeneratedRepo> {
  const identity = createIdentity(spec.seed, spec.index)
  const random = streamFor(spec.seed, 'bench-repo', spec.index)
  const makeRecord = spec.kind === 'social' ? socialRecord : longTextRecord(random)
  const startUs = Date.UTC(2024, 0, 1) * 1000
  const writes: RecordWrite[] = []
  for (let i = 0; i < spec.records; i++) {
    const timeUs = startUs + i * 1_000_000
    const record = makeRecord(random, timeUs)
    writes.push({ action: 'create', collection: record.$type, rkey: tidFromTime(timeUs, identity.clockId), record })
  }
  const { commit } = await AccountRepo.create(identity.did, await importKeypair(identity), writes, tidFromTime(startUs + spec.records * 1_000_000, identity.clockId), true)
  await writeFile(file, commit!.car)
  return { did: identity.did, records: spec.records, bytes: commit!.car.byteLength, rev: commit!.rev, commit: commit!.cid.toString() }
}

function socialRecord(random: SeededRandom, timeUs: number): lex.LexRecord {
  const other = `did:plc:${tidFromTime(timeUs + random.int(0, 1e9), 1)}${'a'.repeat(11)}`
  return random.bool(0.8)
    ? lex.like({ uri: `at://${other}/app.bsky.feed.post/${tidFromTime(timeUs - random.int(1, 1e9), 3)}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, timeUs / 1000)
    : lex.follow(other, timeUs / 1000)
}

/** Text of this many UTF-16 units the long-text records are cut from. */
const CORPUS_LENGTH = 1 << 20
const TEXT_LENGTH = { min: 3_500, max: 4_500 }

/**
 * `com.whtwnd.blog.entry` records (long-form posts, as real large repos hold): each a ~4 KB cut
 * at a random place of one seeded corpus of phrases, so half a GiB of them is made in seconds
 * (a slice shares the corpus' memory until it is encoded).
 */
function longTextRecord(random: SeededRandom): (random: SeededRandom, timeUs: number) => lex.LexRecord {
  const phrases: string[] = []
  for (let length = 0; length < CORPUS_LENGTH + TEXT_LENGTH.max; length += phrases[phrases.length - 1]!.length + 1) phrases.push(randomPhrase(random, 'en'))
  const corpus = phrases.join(' ')
  return (r, timeUs) => {
    const at = r.int(0, CORPUS_LENGTH)
    return { $type: 'com.whtwnd.blog.entry', content: corpus.slice(at, at + r.int(TEXT_LENGTH.min, TEXT_LENGTH.max)), createdAt: lex.isoTime(timeUs / 1000), visibility: 'public' }
  }
}
