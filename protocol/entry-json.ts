import { transcodeDagCborJson } from './cbor-json.js'
import type { CommitEvent, CommitOp, SequencedEvent } from './events.js'
import { recordJson } from './events.js'
import { JsonBytes } from './json-bytes.js'
import { streamEntryData } from './stream-entry.js'

/** A record's JSON text, already written by a RecordJsonScratch: bytes [start, end) of its buffer. */
export class RecordJsonText {
  constructor(
    readonly start: number,
    readonly end: number,
  ) {}
}

/**
 * Records written as JSON text while a frame decodes (DecodeOptions.recordJson), for
 * writeEntryJson to copy into the entry: no record objects, no JSON.stringify of them. Straight
 * from the block where protocol/cbor-json.ts can; else the record decoded and stringified, which
 * also throws what decoding throws. Reset before each frame.
 */
export class RecordJsonScratch {
  readonly out = new JsonBytes(64 * 1024)

  reset(): void {
    this.out.length = 0
  }

  readonly record = (block: Uint8Array, path: string, fields: Record<string, unknown>, maxDepth: number): RecordJsonText => {
    const start = this.out.length
    if (!transcodeDagCborJson(block, maxDepth, this.out)) this.out.utf8(JSON.stringify(recordJson(block, path, fields, maxDepth)))
    return new RecordJsonText(start, this.out.length)
  }
}

/**
 * Appends the entry data's JSON (the bytes of toStreamEntry(event).data) to `out`; records
 * decoded through `scratch` are copied from it. On a throw, `out` is left as it was.
 */
export function writeEntryJson(event: SequencedEvent, out: JsonBytes, scratch: RecordJsonScratch): void {
  const start = out.length
  try {
    if (event.type === 'commit') writeCommit(event, out, scratch.out.bytes)
    else writeValue(streamEntryData(event), out, scratch.out.bytes)
  } catch (err) {
    out.length = start
    throw err
  }
}

/**
 * A commit entry's fields in streamEntryData's order (taken from it, so the order has one home),
 * each with the bytes before its value: `{"repo":`, `,"ops":`, ...
 */
const COMMIT_FIELDS = Object.keys(streamEntryData({ type: 'commit' } as CommitEvent)).map((key, i) => ({
  key: key as keyof CommitEvent,
  prefix: Buffer.from(`${i === 0 ? '{' : ','}${JSON.stringify(key)}:`),
}))

/**
 * writeValue(streamEntryData(event)) for the frame nearly every entry is, without the entry's
 * object or a key written char by char. An op is written in the decoder's key order (action,
 * path, cid, record, then prev when the relay sent it: protocol/events.ts commitEvent);
 * test/protocol/entry-json.test.ts holds the bytes to JSON.stringify's.
 */
function writeCommit(event: CommitEvent, out: JsonBytes, records: Buffer): void {
  for (const { key, prefix } of COMMIT_FIELDS) {
    out.copy(prefix, 0, prefix.length)
    if (key === 'ops') writeOps(event.ops, out, records)
    else if (key === 'commit' || key === 'prevData') writeCid(event[key], out)
    else if (key === 'blobs') writeCids(event.blobs, out)
    else writeValue(event[key], out, records)
  }
  out.byte(0x7d) // }
}

/**
 * A CID string the decoder made (protocol/data-model.ts cidToString: base32 or base58btc, ASCII
 * that JSON never escapes), or null: written without the escape check every other string gets.
 */
function writeCid(cid: string | null, out: JsonBytes): void {
  if (cid === null) {
    out.ascii('null')
    return
  }
  out.byte(0x22) // "
  out.ascii(cid)
  out.byte(0x22)
}

function writeCids(cids: readonly string[], out: JsonBytes): void {
  out.byte(0x5b) // [
  for (let i = 0; i < cids.length; i++) {
    if (i > 0) out.byte(0x2c) // ,
    writeCid(cids[i]!, out)
  }
  out.byte(0x5d) // ]
}

const OP_ACTION = Buffer.from('{"action":')
const OP_PATH = Buffer.from(',"path":')
const OP_CID = Buffer.from(',"cid":')
const OP_RECORD = Buffer.from(',"record":')
const OP_PREV = Buffer.from(',"prev":')

function writeOps(ops: readonly CommitOp[], out: JsonBytes, records: Buffer): void {
  out.byte(0x5b) // [
  for (let i = 0; i < ops.length; i++) {
    if (i > 0) out.byte(0x2c) // ,
    const op = ops[i]!
    writeField(OP_ACTION, op.action, out, records)
    writeField(OP_PATH, op.path, out, records)
    out.copy(OP_CID, 0, OP_CID.length)
    writeCid(op.cid, out)
    if (op.record !== undefined) writeField(OP_RECORD, op.record, out, records)
    if (op.prev !== undefined) {
      out.copy(OP_PREV, 0, OP_PREV.length)
      writeCid(op.prev, out)
    }
    out.byte(0x7d) // }
  }
  out.byte(0x5d) // ]
}

function writeField(prefix: Buffer, value: unknown, out: JsonBytes, records: Buffer): void {
  out.copy(prefix, 0, prefix.length)
  writeValue(value, out, records)
}

/** JSON.stringify's output for the values an entry holds, records copied from `records`. */
function writeValue(value: unknown, out: JsonBytes, records: Buffer): void {
  if (typeof value === 'string') out.string(value)
  else if (value === null) out.ascii('null')
  else if (typeof value === 'boolean') out.ascii(value ? 'true' : 'false')
  else if (typeof value === 'number' && Number.isSafeInteger(value))
    out.ascii(String(value)) // seq: what JSON.stringify writes for an integer
  else if (value instanceof RecordJsonText) out.copy(records, value.start, value.end)
  else if (Array.isArray(value)) {
    out.byte(0x5b) // [
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.byte(0x2c) // ,
      const item: unknown = value[i]
      if (skipped(item)) out.ascii('null')
      else writeValue(item, out, records)
    }
    out.byte(0x5d) // ]
  } else if (typeof value === 'object' && value !== null && !('toJSON' in value)) {
    out.byte(0x7b) // {
    let first = true
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key]
      if (skipped(item)) continue
      if (!first) out.byte(0x2c)
      first = false
      out.string(key)
      out.byte(0x3a) // :
      writeValue(item, out, records)
    }
    out.byte(0x7d) // }
  } else {
    // Numbers, booleans, null; whatever else throws or writes as JSON.stringify does.
    out.utf8(JSON.stringify(value))
  }
}

/** What JSON.stringify leaves out of objects (and writes as null in arrays). */
function skipped(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol'
}
