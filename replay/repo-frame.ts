import * as dagCbor from '@ipld/dag-cbor'
import { scanCborItem } from '../protocol/cbor-scan.js'
import { decodeDagCborItem } from '../protocol/dag-cbor.js'
import { DEFAULT_MAX_DEPTH, isPlainMap } from '../protocol/frame.js'

/**
 * What a repo index needs from one published frame. The CAR stays a view into the frame; the
 * commit CID is a copy of its bytes (kept per repo: a view would keep the whole frame alive),
 * turned into a string only when an endpoint answers (base32 costs more than the rest here).
 */
export type RepoFrame =
  | { t: '#commit'; did: string; seq: number | undefined; rev: string; commit: Uint8Array; since: string | null; blocks: Uint8Array }
  | { t: '#sync'; did: string; seq: number | undefined; rev: string; blocks: Uint8Array }
  | { t: '#account'; did: string; seq: number | undefined; active: boolean; status: string | null }

const TYPES = ['#commit', '#sync', '#account'] as const
type RepoType = (typeof TYPES)[number]
/** The headers as every relay encodes them (DAG-CBOR is canonical), matched as bytes before any decoding. */
const HEADERS = TYPES.map((t) => ({ t, bytes: dagCbor.encode({ op: 1, t }) }))
/** How each wanted body field is read: as a CBOR scalar (short strings, booleans, seq), or located as raw bytes (no copy, no CID object). */
const FIELDS = { seq: 'scalar', repo: 'scalar', did: 'scalar', rev: 'scalar', since: 'scalar', active: 'scalar', status: 'scalar', blocks: 'bytes', commit: 'link' } as const
type Field = keyof typeof FIELDS
/** The wanted keys by the first byte of their CBOR text string (its length: all are shorter than 24 bytes). */
const KEYS = new Map<number, { name: Field; bytes: Uint8Array }[]>()
for (const name of Object.keys(FIELDS) as Field[]) {
  const bytes = Uint8Array.from([0x60 + name.length, ...Buffer.from(name, 'ascii')])
  KEYS.set(bytes[0]!, [...(KEYS.get(bytes[0]!) ?? []), { name, bytes }])
}
const textDecoder = new TextDecoder('utf-8', { fatal: true })
const CID_TAG_HEAD = [0xd8, 0x2a] // tag(42)

/**
 * Reads the type and the few body fields the replay's repo index needs from a frame, skipping
 * (not decoding) everything else: it runs on every published frame, so a #commit costs a scan
 * of its body, not a decode of its CAR or ops. Null for other frames (#identity, #info, error
 * frames, unknown types) and for anything malformed: the replay serves recorded bytes as they
 * are, and a frame the index cannot read simply does not change a repo.
 */
export function readRepoFrame(bytes: Uint8Array): RepoFrame | null {
  try {
    const header = headerOf(bytes)
    if (header === null) return null
    const body = readFields(bytes, header.end)
    if (body === null) return null
    const seq = typeof body.seq === 'number' ? body.seq : undefined
    switch (header.t) {
      case '#commit': {
        if (typeof body.repo !== 'string' || typeof body.rev !== 'string' || !(body.commit instanceof Uint8Array) || !(body.blocks instanceof Uint8Array)) return null
        // Production relays send `since: ""` on a first commit; both mean "no previous rev".
        const since = typeof body.since === 'string' && body.since !== '' ? body.since : null
        return { t: '#commit', did: body.repo, seq, rev: body.rev, commit: body.commit.slice(), since, blocks: body.blocks }
      }
      case '#sync':
        if (typeof body.did !== 'string' || typeof body.rev !== 'string' || !(body.blocks instanceof Uint8Array)) return null
        return { t: '#sync', did: body.did, seq, rev: body.rev, blocks: body.blocks }
      case '#account':
        if (typeof body.did !== 'string' || typeof body.active !== 'boolean') return null
        return { t: '#account', did: body.did, seq, active: body.active, status: typeof body.status === 'string' ? body.status : null }
    }
  } catch {
    return null
  }
}

/** The frame's type when it is one the index reads, and where its body starts. */
function headerOf(bytes: Uint8Array): { t: RepoType; end: number } | null {
  for (const header of HEADERS) if (startsWith(bytes, header.bytes, 0)) return { t: header.t, end: header.bytes.length }
  // Not byte-for-byte canonical (rare): decode the small header map.
  const { value, end } = decodeDagCborItem(bytes, 0, 4)
  if (!isPlainMap(value) || value.op !== 1) return null
  const t = TYPES.find((type) => type === value.t)
  return t === undefined ? null : { t, end }
}

/** The wanted top-level fields of the body map at `start`; byte strings and links as views of their bytes. */
function readFields(bytes: Uint8Array, start: number): Partial<Record<Field, unknown>> | null {
  if (bytes[start]! >> 5 !== 5) return null
  const [entries, first] = readHead(bytes, start)
  const out: Partial<Record<Field, unknown>> = {}
  let pos = first
  for (let i = 0; i < entries; i++) {
    const key = KEYS.get(bytes[pos]!)?.find((candidate) => startsWith(bytes, candidate.bytes, pos))
    pos = scanCborItem(bytes, pos, DEFAULT_MAX_DEPTH)
    const end = scanCborItem(bytes, pos, DEFAULT_MAX_DEPTH)
    if (key !== undefined) out[key.name] = fieldValue(bytes, pos, end, FIELDS[key.name])
    pos = end
  }
  return out
}

/** A field's value: a scalar (text, unsigned integer, boolean or null; anything else undefined), or a view of a byte string's or link's bytes. */
function fieldValue(bytes: Uint8Array, start: number, end: number, how: (typeof FIELDS)[Field]): unknown {
  const initial = bytes[start]!
  if (how === 'scalar') {
    switch (initial >> 5) {
      case 0:
        return readHead(bytes, start)[0]
      case 3:
        return textDecoder.decode(bytes.subarray(readHead(bytes, start)[1], end))
      case 7:
        return initial === 0xf5 ? true : initial === 0xf4 ? false : initial === 0xf6 ? null : undefined
      default:
        return undefined
    }
  }
  let pos = start
  if (how === 'link') {
    if (initial !== CID_TAG_HEAD[0] || bytes[pos + 1] !== CID_TAG_HEAD[1]) return undefined
    pos += 2
  }
  if (bytes[pos]! >> 5 !== 2) return undefined
  const [, dataStart] = readHead(bytes, pos)
  // A link's bytes start with the identity multibase prefix 0x00 (DAG-CBOR tag 42).
  return bytes.subarray(how === 'link' ? dataStart + 1 : dataStart, end)
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (at + prefix.length > bytes.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false
  return true
}

/** A CBOR head's argument (a map's entry count, a byte string's length); [argument, offset after the head]. */
function readHead(bytes: Uint8Array, pos: number): [number, number] {
  const info = bytes[pos]! & 31
  if (info < 24) return [info, pos + 1]
  const width = 1 << (info - 24)
  let value = 0
  for (let i = 1; i <= width; i++) value = value * 256 + bytes[pos + i]!
  return [value, pos + 1 + width]
}
