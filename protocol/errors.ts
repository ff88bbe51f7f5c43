import { FirehoseError } from '../common/firehose-error.js'

export const FrameErrorCode = {
  TooLarge: 'FRAME_TOO_LARGE',
  TooDeep: 'FRAME_TOO_DEEP',
  Truncated: 'FRAME_TRUNCATED',
  TrailingBytes: 'FRAME_TRAILING_BYTES',
  InvalidCbor: 'FRAME_INVALID_CBOR',
  BadHeader: 'FRAME_BAD_HEADER',
  BadBody: 'FRAME_BAD_BODY',
  BadCar: 'FRAME_BAD_CAR',
  BlockMissing: 'FRAME_BLOCK_MISSING',
  BlockHashMismatch: 'FRAME_BLOCK_HASH_MISMATCH',
} as const
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode]

/** Upstream sent bytes we cannot turn into an event. Never fatal to the process: metric + quarantine. */
export class FrameDecodeError extends FirehoseError<FrameErrorCode> {
  /** The frame's seq when the body decoded far enough to read it. */
  readonly seq: number | undefined

  constructor(code: FrameErrorCode, message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, fields, options)
    this.seq = typeof fields.seq === 'number' ? fields.seq : undefined
  }
}

export function isFrameDecodeError(err: unknown): err is FrameDecodeError {
  return err instanceof FrameDecodeError
}

/** A short rendering of an unexpected upstream value for error messages; never throws (BigInt, cycles). */
export function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch {
    text = undefined
  }
  if (text === undefined) return typeof value
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}
