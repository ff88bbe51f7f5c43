import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { SeededRandom } from '../common/random.js'
import { randomLang, randomPhrase, randomRichText, randomUrl, type MentionTarget } from './text.js'

/** Builders for valid app.bsky.* lexicon records (the shapes the Bluesky app writes). */

export interface StrongRef {
  uri: string
  cid: string
}

export type LexRecord = Record<string, unknown> & { $type: string }

/** The collection of posts (likes, reposts, replies and quotes point at them). */
export const POST = 'app.bsky.feed.post'

const RAW_CODEC = 0x55
const SHA2_256 = 0x12

/** A blob reference as records carry it; the blob itself lives on the PDS, never in the firehose. */
function blobRef(random: SeededRandom, mimeType: string, minSize: number, maxSize: number): Record<string, unknown> {
  const ref = CID.createV1(RAW_CODEC, Digest.create(SHA2_256, random.bytes(32)))
  return { $type: 'blob', ref, mimeType, size: random.int(minSize, maxSize) }
}

export function isoTime(timeMs: number): string {
  return new Date(timeMs).toISOString()
}

export function like(subject: StrongRef, createdAtMs: number): LexRecord {
  return { $type: 'app.bsky.feed.like', subject, createdAt: isoTime(createdAtMs) }
}

export function repost(subject: StrongRef, createdAtMs: number): LexRecord {
  return { $type: 'app.bsky.feed.repost', subject, createdAt: isoTime(createdAtMs) }
}

export function follow(subjectDid: string, createdAtMs: number): LexRecord {
  return { $type: 'app.bsky.graph.follow', subject: subjectDid, createdAt: isoTime(createdAtMs) }
}

export function block(subjectDid: string, createdAtMs: number): LexRecord {
  return { $type: 'app.bsky.graph.block', subject: subjectDid, createdAt: isoTime(createdAtMs) }
}

export function list(random: SeededRandom, createdAtMs: number): LexRecord {
  const lang = randomLang(random)
  const record: LexRecord = {
    $type: 'app.bsky.graph.list',
    purpose: random.bool(0.85) ? 'app.bsky.graph.defs#curatelist' : 'app.bsky.graph.defs#modlist',
    name: random.pick(['Friends', 'Artists I love', 'Science folks', 'Devs', 'News', '日本の友達', 'Leitura', 'Muted spam']),
    createdAt: isoTime(createdAtMs),
  }
  if (random.bool(0.6)) record.description = randomPhrase(random, lang)
  return record
}

export function listItem(listUri: string, subjectDid: string, createdAtMs: number): LexRecord {
  return { $type: 'app.bsky.graph.listitem', subject: subjectDid, list: listUri, createdAt: isoTime(createdAtMs) }
}

export function profile(random: SeededRandom, displayName: string, createdAtMs: number): LexRecord {
  const lang = randomLang(random)
  const record: LexRecord = { $type: 'app.bsky.actor.profile', displayName, description: randomPhrase(random, lang) }
  if (random.bool(0.8)) record.avatar = blobRef(random, 'image/jpeg', 20_000, 900_000)
  if (random.bool(0.5)) record.banner = blobRef(random, 'image/jpeg', 50_000, 1_000_000)
  record.createdAt = isoTime(createdAtMs)
  return record
}

export interface PostContext {
  createdAtMs: number
  /** Set for replies: the thread root and the post replied to. */
  reply?: { root: StrongRef; parent: StrongRef }
  /** Set for quote posts. */
  quote?: StrongRef
  mentionable: () => MentionTarget | null
}

export function post(random: SeededRandom, context: PostContext): LexRecord {
  const rich = randomRichText(random, context.mentionable)
  const record: LexRecord = { $type: POST, text: rich.text, createdAt: isoTime(context.createdAtMs), langs: rich.langs }
  if (rich.facets.length > 0) record.facets = rich.facets
  if (context.reply) record.reply = context.reply
  const media = random.next()
  const images = media < 0.22 ? imagesEmbed(random) : null
  if (context.quote) {
    const quoted = { $type: 'app.bsky.embed.record', record: context.quote }
    record.embed = images ? { $type: 'app.bsky.embed.recordWithMedia', record: quoted, media: images } : quoted
  } else if (images) {
    record.embed = images
  } else if (media < 0.32) {
    record.embed = externalEmbed(random)
  }
  return record
}

function imagesEmbed(random: SeededRandom): Record<string, unknown> {
  const count = random.bool(0.7) ? 1 : random.int(2, 4)
  const images = []
  for (let i = 0; i < count; i++) {
    const width = random.pick([1000, 1200, 1536, 2000])
    const height = random.pick([750, 1000, 1200, 2000])
    images.push({
      alt: random.bool(0.4) ? randomPhrase(random, 'en') : '',
      image: blobRef(random, random.bool(0.9) ? 'image/jpeg' : 'image/png', 40_000, 1_000_000),
      aspectRatio: { width, height },
    })
  }
  return { $type: 'app.bsky.embed.images', images }
}

function externalEmbed(random: SeededRandom): Record<string, unknown> {
  const lang = randomLang(random)
  const external: Record<string, unknown> = { uri: randomUrl(random), title: randomPhrase(random, lang), description: randomPhrase(random, lang) }
  if (random.bool(0.7)) external.thumb = blobRef(random, 'image/jpeg', 10_000, 900_000)
  return { $type: 'app.bsky.embed.external', external }
}
