import { encodeFrame } from '../protocol/frame.js'

/** Frames the replay server makes itself (everything else goes out as recorded). */

/** `{op: -1}` + `{error, message}`, as @atproto/xrpc-server sends before closing with 1008. */
export function errorFrame(error: string, message?: string): Uint8Array {
  return encodeFrame({ op: -1 }, message === undefined ? { error } : { error, message })
}

/** `#info` frame, e.g. OutdatedCursor. */
export function infoFrame(name: string, message?: string): Uint8Array {
  return encodeFrame({ op: 1, t: '#info' }, message === undefined ? { name } : { name, message })
}

/** A well-formed message frame of a type no client knows; clients should skip it (event-stream spec). */
export function unknownTypeFrame(type: string): Uint8Array {
  return encodeFrame({ op: 1, t: type }, { note: 'replay fault: unknown message type' })
}

/** A structurally valid #commit-typed frame of about `size` bytes, past the relay's inbound cap. */
export function oversizeFrame(size: number): Uint8Array {
  const overhead = encodeFrame({ op: 1, t: '#commit' }, { blocks: new Uint8Array(0) }).byteLength + 5
  return encodeFrame({ op: 1, t: '#commit' }, { blocks: new Uint8Array(Math.max(0, size - overhead)) })
}
