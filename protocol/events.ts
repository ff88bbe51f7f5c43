import { CID } from 'multiformats/cid'
import { readCar, type BlockVerification, type CarBlocks } from './car.js'
import { readCanonicalCommit } from './commit-block.js'
import { decodeDagCborJson, LinkBytes } from './dag-cbor.js'
import { cidToString, cidV1ToString, toJsonModel } from './data-model.js'
import { FrameDecodeError, FrameErrorCode, describeValue } from './errors.js'
import { DEFAULT_MAX_DEPTH, decodeCbor, decodeFrame, isPlainMap, type Frame, type FrameLimits } from './frame.js'

export interface CommitOp {
  action: string
  path: string
  /** CID of the new record; null on delete. */
  cid: string | null
  /** sync 1.1: CID of the record before this op, when the relay sent it. */
  prev?: string | null
  /** The record in the AT Protocol JSON data model; null on delete or when the commit is tooBig. */
  record: unknown
}

export interface CommitEvent {
  type: 'commit'
  seq: number
  repo: string
  rev: string
  since: string | null
  commit: string
  time: string
  tooBig: boolean
  rebase: boolean
  blobs: string[]
  prevData: string | null
  /**
   * The MST root the signed commit block names (Sync 1.1: the next commit's `prevData` must equal
   * it); null when the frame carries no readable commit block (a tooBig commit). Not published
   * in the stream entry: the per-repo state keeps it (docs/repo-sync.md).
   */
  data: string | null
  ops: CommitOp[]
}
export interface IdentityEvent {
  type: 'identity'
  seq: number
  did: string
  handle: string | null
  time: string
}
export interface AccountEvent {
  type: 'account'
  seq: number
  did: string
  active: boolean
  status: string | null
  time: string
}
export interface SyncEvent {
  type: 'sync'
  seq: number
  did: string
  rev: string
  commit: string
  /** The MST root the commit block names (the repo's state at `rev`); null when the CAR lacks a readable commit block. */
  data: string | null
  time: string
}
export interface InfoEvent {
  type: 'info'
  name: string
  message: string | null
}
export interface ErrorEvent {
  type: 'error'
  error: string
  message: string | null
}
/** A `t` we do not know (including deprecated #handle/#migrate/#tombstone): skipped, never fatal. */
export interface UnknownEvent {
  type: 'unknown'
  t: string
  seq: number | null
}

export type FirehoseEvent = CommitEvent | IdentityEvent | AccountEvent | SyncEvent | InfoEvent | ErrorEvent | UnknownEvent
export type SequencedEvent = CommitEvent | IdentityEvent | AccountEvent | SyncEvent

export interface DecodeOptions extends FrameLimits {
  /**
   * Which CAR blocks must hash to their CID: true or 'all' (default) every block; 'records' only
   * the op records the decoder reads; false or 'none' skips the check (trusted input, speed).
   */
  verifyBlocks?: boolean | BlockVerification
  /**
   * What becomes of each op's record block (a commit's `ops[].record`); default recordJson, the
   * record in the JSON data model. The ingestor's decoder passes one that writes the record's
   * JSON text straight from the block (protocol/entry-json.ts). Must throw what recordJson throws.
   */
  recordJson?: (block: Uint8Array, path: string, fields: Record<string, unknown>, maxDepth: number) => unknown
}

function blockVerification(options: DecodeOptions): BlockVerification {
  const mode = options.verifyBlocks ?? 'all'
  return mode === true ? 'all' : mode === false ? 'none' : mode
}

/** Decodes one binary frame into a typed event. Throws only FrameDecodeError. */
export function decodeEvent(bytes: Uint8Array, options: DecodeOptions = {}): FirehoseEvent {
  // Links as bytes: an event's links are only printed and looked up in the CAR.
  return frameToEvent(decodeFrame(bytes, options, 'bytes'), options)
}

export function frameToEvent(frame: Frame, options: DecodeOptions = {}): FirehoseEvent {
  const { header, body } = frame
  if (header.op === -1) {
    return { type: 'error', error: requireString(body, 'error', undefined), message: optionalString(body, 'message', undefined) }
  }
  if (header.t === '#info') {
    return { type: 'info', name: requireString(body, 'name', undefined), message: optionalString(body, 'message', undefined) }
  }
  const seq = body.seq
  const knownSeq = isSeq(seq) ? seq : undefined
  switch (header.t) {
    case '#commit':
      return commitEvent(body, requireSeq(seq), options)
    case '#identity':
      return {
        type: 'identity',
        seq: requireSeq(seq),
        did: requireString(body, 'did', knownSeq),
        handle: optionalString(body, 'handle', knownSeq),
        time: requireString(body, 'time', knownSeq),
      }
    case '#account':
      return {
        type: 'account',
        seq: requireSeq(seq),
        did: requireString(body, 'did', knownSeq),
        active: requireBoolean(body, 'active', knownSeq),
        status: optionalString(body, 'status', knownSeq),
        time: requireString(body, 'time', knownSeq),
      }
    case '#sync':
      return syncEvent(body, requireSeq(seq), options)
    default:
      return { type: 'unknown', t: header.t, seq: knownSeq ?? null }
  }
}

function commitEvent(body: Record<string, unknown>, seq: number, options: DecodeOptions): CommitEvent {
  const fields = { seq }
  const tooBig = body.tooBig === true
  const blocksBytes = body.blocks
  if (!(blocksBytes instanceof Uint8Array)) throw badBody('`blocks` is not bytes', seq)
  if (!Array.isArray(body.ops)) throw badBody('`ops` is not an array', seq)
  const car = readCar(blocksBytes, blockVerification(options), fields)
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH
  const commit = requireLink(body.commit, 'commit', seq)
  const record = options.recordJson ?? recordJson

  const ops: CommitOp[] = body.ops.map((raw, index): CommitOp => {
    if (typeof raw !== 'object' || raw === null) throw badBody(`ops[${index}] is not a map`, seq)
    const op = raw as Record<string, unknown>
    const action = requireString(op, 'action', seq)
    const path = requireString(op, 'path', seq)
    const link = op.cid === undefined || op.cid === null ? null : requireLink(op.cid, `ops[${index}].cid`, seq)
    const out: CommitOp = { action, path, cid: null, record: null }
    if ('prev' in op) out.prev = optionalCid(op.prev, `ops[${index}].prev`, seq)
    if (action === 'delete' || link === null) return out
    const cid = linkToString(link)
    out.cid = cid
    const block = car.get(link)
    if (block === undefined) {
      if (tooBig) return out // tooBig commits legitimately omit blocks; the consumer fetches the repo
      throw new FrameDecodeError(FrameErrorCode.BlockMissing, `op ${action} ${path} references block ${cid} missing from the CAR`, { seq, cid, path })
    }
    out.record = record(block, path, { seq }, maxDepth)
    return out
  })

  return {
    type: 'commit',
    seq,
    repo: requireString(body, 'repo', seq),
    rev: requireString(body, 'rev', seq),
    // Production relays send `since: ""` for a first commit; both mean "no previous rev".
    since: typeof body.since === 'string' && body.since !== '' ? body.since : null,
    commit: linkToString(commit),
    time: requireString(body, 'time', seq),
    tooBig,
    rebase: body.rebase === true,
    // Go relays send `blobs: null`.
    blobs: Array.isArray(body.blobs) ? body.blobs.map((b, i) => requireCid(b, `blobs[${i}]`, seq)) : [],
    prevData: optionalCid(body.prevData, 'prevData', seq),
    data: commitData(car, commit, seq, maxDepth),
    ops,
  }
}

/**
 * The `data` link of the commit block `commit` in the frame's CAR. Null rather than an error when
 * the block is absent or not a commit: such frames were always published, and whether the repo's
 * chain can continue from them is the per-repo rules' question, not the decoder's.
 */
function commitData(car: CarBlocks, commit: Link, seq: number, maxDepth: number): string | null {
  const block = car.get(commit)
  if (block === undefined) return null
  // The usual block read in place; any other decoded as before (both give the same commit).
  const canonical = readCanonicalCommit(block)
  if (canonical !== null) return cidToString(canonical.commit.data)
  let decoded: unknown
  try {
    decoded = decodeCbor(block, 'commit block', { seq }, maxDepth)
  } catch {
    return null
  }
  const data = isPlainMap(decoded) ? CID.asCID(decoded.data) : null
  return data === null ? null : cidToString(data)
}

/**
 * A record block in the JSON data model, in one pass; the same value (or FrameDecodeError) as
 * toJsonModel(decodeCbor(block)). `fields` name where it came from in the errors (a commit's seq).
 */
export function recordJson(block: Uint8Array, path: string, fields: Record<string, unknown> = {}, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  const what = `record ${path}`
  const { value, end, exact } = decodeDagCborJson(block, 0, maxDepth, { ...fields, path, part: what })
  if (end === block.length && exact) return value
  // Trailing bytes or an integer beyond 2^53: the two-step path throws the precise error.
  return toJsonModel(decodeCbor(block, what, { ...fields, path }, maxDepth), { ...fields, path })
}

function syncEvent(body: Record<string, unknown>, seq: number, options: DecodeOptions): SyncEvent {
  const blocksBytes = body.blocks
  if (!(blocksBytes instanceof Uint8Array)) throw badBody('`blocks` is not bytes', seq)
  const car = readCar(blocksBytes, blockVerification(options), { seq })
  const root = car.roots[0]
  if (!root) throw new FrameDecodeError(FrameErrorCode.BadCar, '#sync CAR has no root', { seq })
  return {
    type: 'sync',
    seq,
    did: requireString(body, 'did', seq),
    rev: requireString(body, 'rev', seq),
    commit: cidToString(root),
    data: commitData(car, root, seq, options.maxDepth ?? DEFAULT_MAX_DEPTH),
    time: requireString(body, 'time', seq),
  }
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function requireSeq(value: unknown): number {
  if (!isSeq(value)) throw badBody(`seq ${describeValue(value)} is not a non-negative integer`, undefined)
  return value
}

function badBody(message: string, seq: number | undefined): FrameDecodeError {
  return new FrameDecodeError(FrameErrorCode.BadBody, message, seq === undefined ? {} : { seq })
}

function requireString(body: Record<string, unknown>, key: string, seq: number | undefined): string {
  const value = body[key]
  if (typeof value !== 'string') throw badBody(`\`${key}\` is not a string`, seq)
  return value
}

function optionalString(body: Record<string, unknown>, key: string, seq: number | undefined): string | null {
  const value = body[key]
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw badBody(`\`${key}\` is not a string`, seq)
  return value
}

function requireBoolean(body: Record<string, unknown>, key: string, seq: number | undefined): boolean {
  const value = body[key]
  if (typeof value !== 'boolean') throw badBody(`\`${key}\` is not a boolean`, seq)
  return value
}

/** A link of the frame's body: LinkBytes from decodeEvent's decoding, a CID from a Frame decoded otherwise. */
type Link = CID | LinkBytes

function requireLink(value: unknown, what: string, seq: number): Link {
  if (value instanceof LinkBytes) return value
  const cid = CID.asCID(value)
  if (!cid) throw badBody(`\`${what}\` is not a CID link`, seq)
  return cid
}

function linkToString(link: Link): string {
  return link instanceof LinkBytes ? cidV1ToString(link.bytes) : cidToString(link)
}

function requireCid(value: unknown, what: string, seq: number): string {
  return linkToString(requireLink(value, what, seq))
}

function optionalCid(value: unknown, what: string, seq: number): string | null {
  return value === undefined || value === null ? null : requireCid(value, what, seq)
}
