import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as CarBufferWriter from '@ipld/car/buffer-writer'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { expect } from 'vitest'
import { FrameDecodeError } from '../../protocol/errors.js'
import { REAL_DATA } from '../shared-data.js'
import { encodeFrame } from '../../protocol/frame.js'

export { REAL_DATA }
export const DID = 'did:plc:44ybard66vv44zksje25o7dz'

export interface Block {
  cid: CID
  bytes: Uint8Array
}

/** A DAG-CBOR block whose CID really is the sha2-256 of its bytes. */
export async function blockOf(value: unknown): Promise<Block> {
  return blockOfBytes(dagCbor.encode(value))
}

export async function blockOfBytes(bytes: Uint8Array): Promise<Block> {
  return { cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)), bytes }
}

/** A CAR v1 file holding exactly these roots and blocks, in order (blocks may lie about their CID). */
export function carOf(roots: CID[], blocks: Block[]): Uint8Array {
  let size = CarBufferWriter.headerLength({ roots })
  for (const block of blocks) size += CarBufferWriter.blockLength(block)
  const writer = CarBufferWriter.createWriter(new ArrayBuffer(size), { roots })
  for (const block of blocks) writer.write(block)
  return writer.close()
}

export interface OpSpec {
  action: 'create' | 'update' | 'delete'
  path: string
  /** IPLD value of the record (create/update). */
  record?: unknown
  /** sync 1.1 `op.prev`; omitted when undefined. */
  prev?: CID | null
}

export interface CommitParts {
  body: Record<string, unknown>
  /** The commit (root) block and the record blocks, in CAR order. */
  blocks: Block[]
  recordCids: Map<string, CID>
  /** The MST root the commit block names. */
  data: CID
}

/**
 * A `#commit` body shaped like a relay's: a signed-commit-like root block plus one block
 * per created/updated record. `override` replaces body fields after the fact (quirks, breakage);
 * `carBlocks` replaces the CAR's block list (missing or tampered blocks).
 */
export async function commitParts(ops: OpSpec[], options: { seq?: number; override?: Record<string, unknown>; carBlocks?: (blocks: Block[]) => Block[] } = {}): Promise<CommitParts> {
  const recordCids = new Map<string, CID>()
  const recordBlocks: Block[] = []
  for (const op of ops) {
    if (op.action === 'delete') continue
    const block = await blockOf(op.record)
    recordCids.set(op.path, block.cid)
    recordBlocks.push(block)
  }
  const data = await blockOf({ e: [], l: null })
  const commit = await blockOf({ did: DID, rev: '3lmxjza3nva27', sig: new Uint8Array(64).fill(7), data: data.cid, prev: null, version: 3 })
  const blocks = [commit, ...recordBlocks]
  const carBlocks = options.carBlocks ? options.carBlocks(blocks) : blocks
  const body: Record<string, unknown> = {
    seq: options.seq ?? 1234,
    rebase: false,
    tooBig: false,
    repo: DID,
    commit: commit.cid,
    rev: '3lmxjza3nva27',
    since: '3lmxjxi3hjn23',
    blocks: carOf([commit.cid], carBlocks),
    ops: ops.map((op) => {
      const out: Record<string, unknown> = { action: op.action, path: op.path, cid: recordCids.get(op.path) ?? null }
      if (op.prev !== undefined) out.prev = op.prev
      return out
    }),
    blobs: [],
    time: '2025-04-16T21:30:28.094Z',
    ...options.override,
  }
  // An override of `undefined` removes the field.
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key]
  return { body, blocks, recordCids, data: data.cid }
}

export async function commitFrame(ops: OpSpec[], options: Parameters<typeof commitParts>[1] = {}): Promise<Uint8Array> {
  return encodeFrame({ op: 1, t: '#commit' }, (await commitParts(ops, options)).body)
}

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'))
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

/** Runs `fn`, expects a FrameDecodeError with this code, returns it for further checks. */
export function expectFrameError(fn: () => unknown, code: string): FrameDecodeError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(FrameDecodeError)
  expect((caught as FrameDecodeError).code).toBe(code)
  return caught as FrameDecodeError
}

export interface RealFrame {
  /** e.g. `indigo-relay-scenarios/legacy/0002.cbor` */
  name: string
  bytes: Uint8Array
}

export interface ScenarioExpectation {
  i: number
  t: string
  seq: number
  drop: boolean
  invalid: boolean
  update: boolean
}

function framesIn(dir: string, label: string): RealFrame[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cbor'))
    .sort()
    .map((f) => ({ name: `${label}/${f}`, bytes: Uint8Array.from(readFileSync(join(dir, f))) }))
}

export function scenarioNames(): string[] {
  const dir = join(REAL_DATA, 'indigo-relay-scenarios')
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
}

export function scenarioFrames(name: string): RealFrame[] {
  return framesIn(join(REAL_DATA, 'indigo-relay-scenarios', name, 'frames'), `indigo-relay-scenarios/${name}`)
}

export function scenarioExpectations(name: string): ScenarioExpectation[] {
  return JSON.parse(readFileSync(join(REAL_DATA, 'indigo-relay-scenarios', name, 'expectations.json'), 'utf8')) as ScenarioExpectation[]
}

export function prodCommitFrames(): RealFrame[] {
  return framesIn(join(REAL_DATA, 'indigo-prod-commits', 'frames'), 'indigo-prod-commits')
}

/** Every wire frame under test/data/real. */
export function allRealFrames(): RealFrame[] {
  return [...prodCommitFrames(), ...scenarioNames().flatMap(scenarioFrames)]
}
