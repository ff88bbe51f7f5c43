import { FrameDecodeError, FrameErrorCode } from './errors.js'

/** The default `fields`: shared, so a call without them allocates nothing. */
const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({})

/**
 * Walks one CBOR item structurally (no allocation, no recursion) and returns the offset just
 * past it. Runs before the real decoder so that deep nesting, which overflows the stack of
 * recursive decoders (RangeError), and truncation are reported as named errors instead.
 * DAG-CBOR forbids indefinite lengths, so they are rejected here too.
 * `fields` (e.g. seq and path of a record block) is attached to every error.
 */
export function scanCborItem(bytes: Uint8Array, offset: number, maxDepth: number, fields: Record<string, unknown> = NO_FIELDS): number {
  let pos = offset
  // Items still owed by each open array/map (a map owes two per entry); allocated only when one
  // opens, as a scalar (most of what peekFrame scans) needs none.
  let owed: number[] | null = null
  const end = bytes.length

  for (;;) {
    if (pos >= end) throw truncated(pos, end, fields)
    const initial = bytes[pos++]!
    const major = initial >> 5
    const info = initial & 31
    let arg = info
    if (info >= 24) {
      if (info > 27) {
        throw new FrameDecodeError(FrameErrorCode.InvalidCbor, info === 31 ? `indefinite-length CBOR at byte ${pos - 1} (not allowed in DAG-CBOR)` : `reserved CBOR additional info ${info} at byte ${pos - 1}`, {
          ...fields,
          offset: pos - 1,
        })
      }
      const width = 1 << (info - 24)
      if (pos + width > end) throw truncated(pos, end, fields)
      arg = 0
      for (let i = 0; i < width; i++) arg = arg * 256 + bytes[pos + i]!
      pos += width
    }

    let complete = true
    switch (major) {
      case 2:
      case 3:
        if (pos + arg > end) throw truncated(pos, end, fields)
        pos += arg
        break
      case 4:
      case 5:
        if (arg > 0) {
          owed ??= []
          if (owed.length >= maxDepth) {
            throw new FrameDecodeError(FrameErrorCode.TooDeep, `CBOR nesting deeper than ${maxDepth} at byte ${pos}`, { ...fields, offset: pos, maxDepth })
          }
          // Each entry needs at least one byte: a huge count cannot be honest.
          const items = major === 5 ? arg * 2 : arg
          if (items > end - pos) throw truncated(pos, end, fields)
          owed.push(items)
          complete = false
        }
        break
      case 6:
        complete = false // the tagged item follows and completes this slot
        break
      default:
        break
    }
    if (!complete) continue
    // An item finished: pay down the open containers, closing each that is now full.
    for (;;) {
      if (owed === null || owed.length === 0) return pos
      const top = owed.length - 1
      owed[top]! -= 1
      if (owed[top]! > 0) break
      owed.pop()
    }
  }
}

function truncated(pos: number, end: number, fields: Record<string, unknown>): FrameDecodeError {
  return new FrameDecodeError(FrameErrorCode.Truncated, `CBOR item truncated at byte ${pos} of ${end}`, { ...fields, offset: pos })
}
