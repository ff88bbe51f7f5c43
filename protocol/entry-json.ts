import { transcodeDagCborJson } from './cbor-json.js'
import type { SequencedEvent } from './events.js'
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
    writeValue(streamEntryData(event), out, scratch.out.bytes)
  } catch (err) {
    out.length = start
    throw err
  }
}

/** JSON.stringify's output for the values an entry holds, records copied from `records`. */
function writeValue(value: unknown, out: JsonBytes, records: Buffer): void {
  if (typeof value === 'string') out.string(value)
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
