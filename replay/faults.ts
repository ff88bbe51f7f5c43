import { readFile } from 'node:fs/promises'
import type { SeededRandom } from '../common/random.js'
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/frame-limits.js'
import { ReplayError, ReplayErrorCode } from './errors.js'

/**
 * Fault specs: what can go wrong, when, and to whom. Validated here (API, --fault flags,
 * --faults plan files and POST /_replay/fault all go through parseFaultSpec); applied per
 * client by client-session.ts, or to getRepo requests by sync-faults.ts; triggered by the
 * timeline (fault-scheduler.ts).
 */

/** Faults of the sync XRPC endpoints (getRepo), apart from the subscribers' FAULT_KINDS: they apply to the next `count` requests, whoever sends them. */
export const SYNC_FAULT_KINDS = [
  'get-repo-500', // HTTP 500 InternalServerError
  'get-repo-429', // HTTP 429 RateLimitExceeded with RateLimit-Reset (epoch seconds) and Retry-After
  'get-repo-slow', // the CAR trickled at bytesPerSec
  'get-repo-truncate', // the connection cut after `bytes` of the CAR (default half)
  'get-repo-corrupt', // one block of the CAR no longer hashes to its CID
] as const
export type SyncFaultKind = (typeof SYNC_FAULT_KINDS)[number]

export const FAULT_KINDS = [
  'drop', // abrupt TCP drop (no close frame)
  'close', // clean close with a chosen code
  'stall', // socket open, nothing sent (no frames, pings or pongs) for durationMs
  'refuse-handshake', // the next `count` upgrades get HTTP 429/502/503 with Retry-After
  'garbage', // `count` messages of `bytes` random bytes
  'truncate', // the next `count` frames cut to `bytes` (default: half)
  'oversize', // an extra #commit frame larger than the 5 MB relay limit
  'unknown-type', // an extra frame with an unknown `t`
  'duplicate', // the last `count` frames sent again
  'regress', // the next `count` frames with seq rewritten to `by` below the previous seq
  'swallow', // the next `count` frames never sent (a true gap)
  'error-frame', // an error frame {error, message}, then close 1008 unless close: false
  'info', // an #info frame (default OutdatedCursor)
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/**
 * Sync 1.1 faults of the repos the stream carries, per client like FAULT_KINDS (repo-fault-lane.ts);
 * the frames they insert get seqs of their own. sync-reset and sync-storm also change the repos
 * getRepo serves, replay-wide (repo-resets.ts).
 */
export const REPO_FAULT_KINDS = [
  'future-rev', // the next #commit (of `did`) sent with a rev aheadSec in the future
  'rev-regress', // the next #commit (of `did`) sent again, with its own rev, afterFrames frames later
  'takedown', // an #account {active: false, status: takendown} for `did`; reactivateAfterFrames: #account active later
  'sync-reset', // `did`'s repo reset at the PDS (removeRecords gone, a new rev), and its #sync sent
  'sync-storm', // sync-reset of `count` repos at once
] as const
export type RepoFaultKind = (typeof REPO_FAULT_KINDS)[number]

const KNOWN_KINDS = [...FAULT_KINDS, ...SYNC_FAULT_KINDS, ...REPO_FAULT_KINDS]

/** A range [min, max] is resolved once with the seeded random source. */
export type FaultWhen = number | [number, number]

export interface FaultSpec {
  kind: FaultKind | SyncFaultKind | RepoFaultKind
  /** Fires when the timeline has published this many frames; each targeted client gets it right after that frame. */
  atFrame?: FaultWhen
  /** Fires this long after the timeline started (plan) or after injection (run time); applies at each client's next frame. */
  afterMs?: FaultWhen
  /** Only this client id (see status); default every connected client. */
  client?: number
  count?: number
  code?: number
  reason?: string
  durationMs?: number
  status?: number
  retryAfterSec?: number
  bytes?: number
  by?: number
  type?: string
  error?: string
  message?: string
  name?: string
  close?: boolean
  /** Sync faults: only getRepo requests for this DID (default any). Repo faults: the repo it applies to. */
  did?: string
  bytesPerSec?: number
  /** future-rev: how far ahead of now the rev is (seconds). */
  aheadSec?: number
  /** rev-regress: recorded frames between the commit and its copy. */
  afterFrames?: number
  /** takedown: recorded frames until an #account active: true (default: never). */
  reactivateAfterFrames?: number
  /** sync-reset, sync-storm: records each reset removes (default half the repo's, rounded up). */
  removeRecords?: number
}

export function isSyncFault(kind: FaultSpec['kind']): kind is SyncFaultKind {
  return (SYNC_FAULT_KINDS as readonly string[]).includes(kind)
}

/** Faults that change the repos getRepo serves, replay-wide, before their #sync frames go to the clients. */
export function isRepoReset(kind: FaultSpec['kind']): kind is 'sync-reset' | 'sync-storm' {
  return kind === 'sync-reset' || kind === 'sync-storm'
}

/**
 * Upper bounds of every numeric fault parameter (docs/replay.md): a control request must not be
 * able to hang the server or exhaust its memory. Inserted messages (garbage, duplicates) are
 * sent with socket backpressure, so memory per client stays at one send buffer plus one message.
 */
export const FAULT_LIMITS = {
  /** Messages or frames one fault affects (also handshakes refused). */
  count: 100_000,
  /** One garbage message, the cut point of a truncated frame or getRepo body, and a slow getRepo's bytes per second. */
  bytes: 16 * 1024 * 1024,
  /** The one oversize frame (past the 16 MiB WebSocket limit clients use, to test it). */
  oversizeBytes: 64 * 1024 * 1024,
  /** A stall, and how late a fault may fire (afterMs). */
  durationMs: 3_600_000,
  retryAfterSec: 3_600,
  /** How far a regressed seq goes below the previous one. */
  by: 1_000_000_000_000,
  client: 2 ** 31 - 1,
  /** future-rev: 10 years ahead (a TID holds timestamps up to the year 2255). */
  aheadSec: 315_360_000,
  /** rev-regress afterFrames, takedown reactivateAfterFrames: each holds one frame meanwhile. */
  frames: 100_000_000,
  /** Records one repo reset removes. */
  removeRecords: 1_000_000,
  /** Characters of a string field. */
  stringChars: 1_024,
} as const
/** WebSocket close reasons (close `reason`, and the error name an error-frame closes with) are at most 123 bytes. */
const CLOSE_REASON_BYTES = 123

type ParamType =
  | { int: [min: number, max: number] }
  | 'string'
  /** Also sent as a WebSocket close reason. */
  | 'closeReason'
  | 'boolean'
  | 'closeCode'
  | 'httpStatus'

const count: ParamType = { int: [1, FAULT_LIMITS.count] }
const bytes: ParamType = { int: [1, FAULT_LIMITS.bytes] }
const frames: ParamType = { int: [1, FAULT_LIMITS.frames] }
const removeRecords: ParamType = { int: [1, FAULT_LIMITS.removeRecords] }
const COMMON_PARAMS: Record<string, ParamType> = { client: { int: [0, FAULT_LIMITS.client] } }
const FAULT_PARAMS: Record<FaultSpec['kind'], Record<string, ParamType>> = {
  drop: {},
  close: { code: 'closeCode', reason: 'closeReason' },
  stall: { durationMs: { int: [1, FAULT_LIMITS.durationMs] } },
  'refuse-handshake': { count, status: 'httpStatus', retryAfterSec: { int: [0, FAULT_LIMITS.retryAfterSec] } },
  garbage: { count, bytes },
  truncate: { count, bytes },
  oversize: { bytes: { int: [1, FAULT_LIMITS.oversizeBytes] } },
  'unknown-type': { type: 'string' },
  duplicate: { count },
  regress: { count, by: { int: [1, FAULT_LIMITS.by] } },
  swallow: { count },
  'error-frame': { error: 'closeReason', message: 'string', close: 'boolean' },
  info: { name: 'string', message: 'string' },
  'future-rev': { did: 'string', aheadSec: { int: [1, FAULT_LIMITS.aheadSec] } },
  'rev-regress': { did: 'string', afterFrames: frames },
  takedown: { did: 'string', reactivateAfterFrames: frames },
  'sync-reset': { did: 'string', removeRecords },
  'sync-storm': { count, removeRecords },
  'get-repo-500': { count, did: 'string' },
  'get-repo-429': { count, did: 'string', retryAfterSec: { int: [0, FAULT_LIMITS.retryAfterSec] } },
  'get-repo-slow': { count, did: 'string', bytesPerSec: bytes },
  'get-repo-truncate': { count, did: 'string', bytes },
  'get-repo-corrupt': { count, did: 'string' },
}

export const REFUSAL_STATUSES = [429, 502, 503] as const
/** Default size of an oversize frame: just past the relay's 5,000,000-byte cap. */
export const DEFAULT_OVERSIZE_BYTES = DEFAULT_MAX_FRAME_BYTES + 1024

function badFault(message: string, value: unknown): ReplayError {
  return new ReplayError(ReplayErrorCode.BadFault, `invalid fault: ${message}`, { value })
}

/** Close codes ws lets a server send (RFC 6455 7.4, as ws validates them). */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}

/** Validates one fault spec from untrusted JSON; unknown fields are errors, not ignored. */
export function parseFaultSpec(value: unknown): FaultSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badFault('expected an object', value)
  const raw = value as Record<string, unknown>
  const kind = raw.kind
  if (typeof kind !== 'string' || !(KNOWN_KINDS as readonly string[]).includes(kind)) {
    throw badFault(`kind must be one of ${KNOWN_KINDS.join(', ')}, got ${JSON.stringify(kind)}`, value)
  }
  // `client` targets a subscriber: sync faults apply to HTTP requests instead.
  const known = kind as FaultSpec['kind']
  const params = isSyncFault(known) ? FAULT_PARAMS[known] : { ...COMMON_PARAMS, ...FAULT_PARAMS[known] }
  const spec: FaultSpec = { kind: known }
  for (const [key, field] of Object.entries(raw)) {
    if (key === 'kind') continue
    if (key === 'atFrame' || key === 'afterMs') {
      spec[key] = checkWhen(key, field, key === 'afterMs' ? FAULT_LIMITS.durationMs : Number.MAX_SAFE_INTEGER, value)
      continue
    }
    const type = params[key]
    if (type === undefined) throw badFault(`${kind} takes no field "${key}" (allowed: atFrame, afterMs, ${Object.keys(params).join(', ')})`, value)
    ;(spec as unknown as Record<string, unknown>)[key] = checkParam(key, type, field, value)
  }
  if (spec.atFrame !== undefined && spec.afterMs !== undefined) throw badFault('give atFrame or afterMs, not both', value)
  if (kind === 'error-frame' && spec.error === undefined) throw badFault('error-frame needs an error name (e.g. FutureCursor, ConsumerTooSlow)', value)
  if ((kind === 'takedown' || kind === 'sync-reset') && spec.did === undefined) throw badFault(`${kind} needs a did`, value)
  return spec
}

function checkWhen(key: string, field: unknown, max: number, value: unknown): FaultWhen {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= max
  if (ok(field)) return field
  if (Array.isArray(field) && field.length === 2 && ok(field[0]) && ok(field[1]) && field[0] <= field[1]) return [field[0], field[1]]
  throw badFault(`${key} must be an integer in [0, ${max}] or a range [min, max] within it`, value)
}

function checkParam(key: string, type: ParamType, field: unknown, value: unknown): unknown {
  const isInt = typeof field === 'number' && Number.isSafeInteger(field)
  if (typeof type === 'object') {
    const [min, max] = type.int
    if (isInt && field >= min && field <= max) return field
    throw badFault(`${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(field)}`, value)
  }
  switch (type) {
    case 'string':
      if (typeof field === 'string' && field.length > 0 && field.length <= FAULT_LIMITS.stringChars) return field
      throw badFault(`${key} must be a non-empty string of at most ${FAULT_LIMITS.stringChars} characters`, value)
    case 'closeReason':
      if (typeof field === 'string' && field.length > 0 && Buffer.byteLength(field) <= CLOSE_REASON_BYTES) return field
      throw badFault(`${key} must be a non-empty string of at most ${CLOSE_REASON_BYTES} UTF-8 bytes (it is sent as a WebSocket close reason)`, value)
    case 'boolean':
      if (typeof field === 'boolean') return field
      throw badFault(`${key} must be true or false`, value)
    case 'closeCode':
      if (isInt && isSendableCloseCode(field)) return field
      throw badFault(`${key} must be a close code a server may send (1000-1014 except 1004-1006, or 3000-4999)`, value)
    case 'httpStatus':
      if (isInt && (REFUSAL_STATUSES as readonly number[]).includes(field)) return field
      throw badFault(`${key} must be one of ${REFUSAL_STATUSES.join(', ')}`, value)
  }
}

/**
 * Parses the compact --fault flag syntax `KIND[:key=value,...]`, e.g. `drop:atFrame=500`,
 * `swallow:count=3,atFrame=100..200`, `error-frame:error=ConsumerTooSlow,close=false`.
 */
export function parseFaultFlag(text: string): FaultSpec {
  const [kind, rest] = splitOnce(text.trim(), ':')
  const raw: Record<string, unknown> = { kind }
  if (rest !== undefined && rest !== '') {
    for (const pair of rest.split(',')) {
      const [key, val] = splitOnce(pair, '=')
      if (val === undefined || key === '') throw badFault(`expected key=value in "${pair}"`, text)
      raw[key.trim()] = flagValue(val.trim())
    }
  }
  return parseFaultSpec(raw)
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator)
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)]
}

function flagValue(text: string): unknown {
  const range = /^(\d+)\.\.(\d+)$/.exec(text)
  if (range) return [Number(range[1]), Number(range[2])]
  if (/^-?\d+$/.test(text)) return Number(text)
  if (text === 'true' || text === 'false') return text === 'true'
  return text
}

export interface FaultPlan {
  seed?: number
  faults: FaultSpec[]
}

/** Reads a --faults plan: `{ "seed"?: n, "faults": [spec, ...] }` or a bare array of specs. */
export async function loadFaultPlan(path: string): Promise<FaultPlan> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ReplayError(ReplayErrorCode.BadFault, `cannot read fault plan ${path}: ${(err as Error).message}`, { path }, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ReplayError(ReplayErrorCode.BadFault, `fault plan ${path} is not JSON: ${(err as Error).message}`, { path }, { cause: err })
  }
  return parseFaultPlan(json, path)
}

export function parseFaultPlan(json: unknown, where = 'fault plan'): FaultPlan {
  const object = Array.isArray(json) ? { faults: json } : json
  if (typeof object !== 'object' || object === null) throw badFault(`${where}: expected an object with "faults" or an array`, json)
  const { seed, faults, ...extra } = object as Record<string, unknown>
  if (Object.keys(extra).length > 0) throw badFault(`${where}: unexpected field(s) ${Object.keys(extra).join(', ')}`, json)
  if (!Array.isArray(faults)) throw badFault(`${where}: "faults" must be an array`, json)
  if (seed !== undefined && !(typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0)) throw badFault(`${where}: seed must be a non-negative integer`, json)
  const parsed = faults.map((fault, i) => {
    try {
      return parseFaultSpec(fault)
    } catch (err) {
      throw badFault(`${where}, fault #${i}: ${(err as Error).message.replace(/^invalid fault: /, '')}`, fault)
    }
  })
  return seed === undefined ? { faults: parsed } : { seed, faults: parsed }
}

/** Picks a value in a [min, max] range with the seeded source; a plain number stays as is. */
export function resolveWhen(when: FaultWhen | undefined, random: SeededRandom): number | undefined {
  if (when === undefined || typeof when === 'number') return when
  return random.int(when[0], when[1])
}
