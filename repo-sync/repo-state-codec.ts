/**
 * A RepoState as one Redis hash value, as few bytes as it can be (one per DID, ~40M DIDs on
 * the network): 41 bytes for a repo with a chain (any sync state, a known status, an MST root of
 * the usual CID form), 1 byte for a state that has none yet; an unknown status adds its own
 * UTF-8 (at most MAX_STATUS_BYTES). Binary rather than text (a base32 CID alone is 59 characters)
 * so that values stay under 64 bytes, where a small Redis hash of them keeps the compact
 * listpack encoding (`hash-max-listpack-value` 64).
 *
 * | bytes | what |
 * |---|---|
 * | 1 | header: bits 7-6 sync (0 synchronized, 1 desynchronized, 2 resyncing, 3 synchronized and whole: published whole by a snapshot since), bits 5-2 status (STATUS_CODES; 15: other, spelled at the end), bit 1 chain (rev and data follow), bit 0 short CID |
 * | 8 | rev: the TID's 64-bit value, big-endian (chain only) |
 * | 32 | data, short form: the sha2-256 digest of a CIDv1 dag-cbor sha2-256 (every MST root atproto writes) |
 * | 1 + n | data, any other CID: its length, then its binary form |
 * | 1-64 | the status in UTF-8, when it is not one of STATUS_CODES (to the end of the value) |
 *
 * One state has exactly one encoding (the decoder refuses the others: a long form that could be
 * short, an empty "other" status or one that has a code, bit 0 without a chain, bytes after the
 * end), so stored values can be compared byte for byte.
 */
import { CID } from 'multiformats/cid'
import { cidToString, cidV1FromString, cidV1ToString } from '../protocol/data-model.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import { isTid, readTidBytes, writeTidBytes } from './tid.js'
import { MAX_STATUS_BYTES, type AccountStatus, type RepoState, type SyncState } from './types.js'

const SYNC_CODES: readonly SyncState[] = ['synchronized', 'desynchronized', 'resyncing']
/** Sync code 3: `synchronized` with `whole`. */
const WHOLE = 3
/** The statuses that take no bytes beyond the header, by code. Appending is safe; reordering changes stored meaning. */
export const STATUS_CODES: readonly AccountStatus[] = ['active', 'takendown', 'suspended', 'deleted', 'deactivated', 'desynchronized', 'throttled', 'inactive']
const OTHER_STATUS = 15

const CHAIN = 0b10
const SHORT_CID = 0b01
const REV_BYTES = 8
/** CIDv1, dag-cbor (0x71), sha2-256 (0x12), 32-byte digest (0x20). */
const SHORT_CID_PREFIX = Uint8Array.of(0x01, 0x71, 0x12, 0x20)
const DIGEST_BYTES = 32
const MAX_CID_BYTES = 255

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The state's stored value. Throws REPO_SYNC_BAD_STATE for a state the rules never make (a non-TID rev, a data that is not a canonical CID, a status over MAX_STATUS_BYTES). */
export function encodeRepoState(state: RepoState): Buffer {
  let sync = SYNC_CODES.indexOf(state.sync)
  if (sync < 0) throw bad(`sync state ${JSON.stringify(state.sync)} is not one of ${SYNC_CODES.join(', ')}`)
  if (state.whole === true) {
    if (state.sync !== 'synchronized') throw bad(`whole is for a synchronized repo, not a ${state.sync} one`)
    if (state.rev === '') throw bad('whole without a chain (a snapshot always gives one)')
    sync = WHOLE
  }
  const known = STATUS_CODES.indexOf(state.status)
  const statusBytes = known >= 0 ? null : Buffer.from(state.status, 'utf8')
  if (statusBytes !== null && (statusBytes.length === 0 || statusBytes.length > MAX_STATUS_BYTES)) throw bad(`status must be 1 to ${MAX_STATUS_BYTES} bytes, got ${statusBytes.length}`)

  const hasChain = state.rev !== '' || state.data !== ''
  let cid: Uint8Array | null = null
  if (hasChain) {
    if (!isTid(state.rev)) throw bad(`rev ${JSON.stringify(state.rev.slice(0, 40))} is not a TID`)
    cid = cidBytes(state.data)
  }
  const short = cid !== null && isShortForm(cid)
  const dataLength = cid === null ? 0 : short ? DIGEST_BYTES : 1 + cid.length
  const out = Buffer.allocUnsafe(1 + (hasChain ? REV_BYTES + dataLength : 0) + (statusBytes?.length ?? 0))
  out[0] = (sync << 6) | ((known >= 0 ? known : OTHER_STATUS) << 2) | (hasChain ? CHAIN : 0) | (short ? SHORT_CID : 0)
  let at = 1
  if (cid !== null) {
    writeTidBytes(state.rev, out, at)
    at += REV_BYTES
    if (short) {
      out.set(cid.subarray(SHORT_CID_PREFIX.length), at)
    } else {
      out[at++] = cid.length
      out.set(cid, at)
    }
    at += short ? DIGEST_BYTES : cid.length
  }
  if (statusBytes !== null) out.set(statusBytes, at)
  return out
}

/** The state a stored value holds. Throws REPO_SYNC_BAD_STATE, saying what is wrong and where, for anything encodeRepoState does not write. */
export function decodeRepoState(value: Uint8Array): RepoState {
  if (value.length === 0) throw bad('empty value')
  const header = value[0]!
  const whole = header >> 6 === WHOLE
  const sync = whole ? 'synchronized' : SYNC_CODES[header >> 6]!
  const statusCode = (header >> 2) & 0x0f
  if (statusCode !== OTHER_STATUS && statusCode >= STATUS_CODES.length) throw bad(`header 0x${hex(header)}: status code ${statusCode} is unknown`)
  const hasChain = (header & CHAIN) !== 0
  const short = (header & SHORT_CID) !== 0
  if (short && !hasChain) throw bad(`header 0x${hex(header)}: short CID flag without a chain`)
  if (whole && !hasChain) throw bad(`header 0x${hex(header)}: whole without a chain`)

  let at = 1
  let rev = ''
  let data = ''
  if (hasChain) {
    if (value.length < at + REV_BYTES) throw bad(`truncated: a rev needs ${REV_BYTES} bytes at offset ${at}, ${value.length - at} left`)
    rev = readTidBytes(value, at)
    at += REV_BYTES
    if (short) {
      if (value.length < at + DIGEST_BYTES) throw bad(`truncated: a digest needs ${DIGEST_BYTES} bytes at offset ${at}, ${value.length - at} left`)
      data = shortCidString(value.subarray(at, at + DIGEST_BYTES))
      at += DIGEST_BYTES
    } else {
      const length = value[at]
      if (length === undefined || value.length < at + 1 + length) throw bad(`truncated: the CID at offset ${at} is cut off`)
      const bytes = value.subarray(at + 1, at + 1 + length)
      if (isShortForm(bytes)) throw bad(`the CID at offset ${at} has the short form's prefix but is stored long`)
      data = cidStringOf(bytes, at)
      at += 1 + length
    }
  }

  let status: AccountStatus
  if (statusCode === OTHER_STATUS) {
    const rest = value.subarray(at)
    if (rest.length === 0 || rest.length > MAX_STATUS_BYTES) throw bad(`the status at offset ${at} must be 1 to ${MAX_STATUS_BYTES} bytes, got ${rest.length}`)
    try {
      status = utf8.decode(rest)
    } catch (cause) {
      throw bad(`the status at offset ${at} is not UTF-8`, cause)
    }
    if (STATUS_CODES.includes(status)) throw bad(`the status ${JSON.stringify(status)} at offset ${at} has a code and is spelled out`)
  } else {
    if (at !== value.length) throw bad(`${value.length - at} bytes after the end at offset ${at}`)
    status = STATUS_CODES[statusCode]!
  }
  return whole ? { rev, data, status, sync, whole } : { rev, data, status, sync }
}

/** Whether a stored value's repo is desynchronized or resyncing, from its first byte alone (the sweep's test: no decode). */
export function storedUnsynchronized(value: Uint8Array): boolean {
  const code = value.length > 0 ? value[0]! >> 6 : 0
  return code === 1 || code === 2
}

/**
 * A short CID (every MST root atproto writes) from its canonical string, by the codec's own base32
 * rather than a CID object: the state is encoded for every commit a write changes, and CID.parse
 * plus the canonical check were a tenth of the write path's time (docs/performance.md). Null for
 * any other string: the caller takes the general path.
 */
export function shortCidBytes(text: string): Uint8Array | null {
  const bytes = cidV1FromString(text)
  return bytes !== null && isShortForm(bytes) ? bytes : null
}

/** The canonical string of a short CID's 32-byte sha2-256 digest. */
export function shortCidString(digest: Uint8Array): string {
  const bytes = new Uint8Array(SHORT_CID_PREFIX.length + DIGEST_BYTES)
  bytes.set(SHORT_CID_PREFIX)
  bytes.set(digest, SHORT_CID_PREFIX.length)
  return cidV1ToString(bytes)
}

function isShortForm(cid: Uint8Array): boolean {
  return cid.length === SHORT_CID_PREFIX.length + DIGEST_BYTES && SHORT_CID_PREFIX.every((byte, i) => cid[i] === byte)
}

/** The binary CID of a state's `data`, which must be the CID's canonical string (so that decoding gives the same string back). */
function cidBytes(data: string): Uint8Array {
  const short = shortCidBytes(data)
  if (short !== null) return short
  let cid: CID
  try {
    cid = CID.parse(data)
  } catch (cause) {
    throw bad(`data ${JSON.stringify(data.slice(0, 80))} is not a CID`, cause)
  }
  if (cidToString(cid) !== data) throw bad(`data ${JSON.stringify(data.slice(0, 80))} is not a CID's canonical string (${cidToString(cid)})`)
  if (cid.bytes.length > MAX_CID_BYTES) throw bad(`data CID is ${cid.bytes.length} bytes, over ${MAX_CID_BYTES}`)
  return cid.bytes
}

function cidStringOf(bytes: Uint8Array, offset: number): string {
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch (cause) {
    throw bad(`the ${bytes.length} bytes at offset ${offset + 1} are not a CID`, cause)
  }
  // CID.decode reads some non-canonical forms (a version-0 prefix, ...); the encoder would write others.
  if (!Buffer.from(cid.bytes).equals(bytes)) throw bad(`the ${bytes.length} bytes at offset ${offset + 1} are not a CID's canonical binary form`)
  return cidToString(cid)
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}

function bad(message: string, cause?: unknown): RepoSyncError {
  return new RepoSyncError(RepoSyncErrorCode.BadState, `repo state: ${message}`, {}, cause === undefined ? undefined : { cause })
}
