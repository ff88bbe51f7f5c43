import { createHash } from 'node:crypto'

/** A frame quarantined in `<stream>:dead`. */
export interface DeadLetter {
  seq: number | null
  code: string
  message: string
  bytes: Uint8Array
}

/** Frames up to this size are kept whole in the dead-letter stream. */
export const DEAD_LETTER_WHOLE_BYTES = 16 * 1024
/** A larger frame keeps only its first KiB (with its length and SHA-256): a hostile relay cannot fill Redis with it. */
export const DEAD_LETTER_HEAD_BYTES = 1024
/** Longest reason kept (decoder messages are short; this bounds a pathological one). */
export const DEAD_LETTER_MESSAGE_CHARS = 512
/**
 * Most bytes one dead-letter entry takes in Redis: its fields (at most the whole frame, a
 * 4-byte-per-char message and ~200 bytes more, ~19 KiB) in one allocation, which jemalloc rounds
 * up to its next size class (20 or 24 KiB), plus the stream's node overhead.
 */
export const DEAD_LETTER_ENTRY_MAX_BYTES = 25 * 1024

/**
 * How many dead letters the stream keeps: the count bound, lowered so that even entries of the
 * largest size fit in `maxBytes` (the stream is trimmed oldest first, `MAXLEN ~`).
 */
export function deadLetterMaxEntries(maxEntries: number, maxBytes: number): number {
  return Math.max(1, Math.min(maxEntries, Math.floor(maxBytes / DEAD_LETTER_ENTRY_MAX_BYTES)))
}

/**
 * The fields after `seq` of a dead-letter entry, in order: code, message, bytes (the whole frame
 * up to DEAD_LETTER_WHOLE_BYTES, else its first DEAD_LETTER_HEAD_BYTES), length (the frame's
 * full length) and sha256 (hex, of the whole frame), so a cut frame can still be recognised.
 * Six values with seq: the write script reads them six at a time.
 */
export function deadLetterFields(dead: DeadLetter): (string | Buffer)[] {
  const whole = Buffer.from(dead.bytes.buffer, dead.bytes.byteOffset, dead.bytes.byteLength)
  const kept = whole.byteLength > DEAD_LETTER_WHOLE_BYTES ? whole.subarray(0, DEAD_LETTER_HEAD_BYTES) : whole
  const message = dead.message.length > DEAD_LETTER_MESSAGE_CHARS ? `${dead.message.slice(0, DEAD_LETTER_MESSAGE_CHARS - 1)}…` : dead.message
  return [dead.seq === null ? '' : String(dead.seq), dead.code, message, kept, String(whole.byteLength), createHash('sha256').update(whole).digest('hex')]
}
