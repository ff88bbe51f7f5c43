/** Whether a[aStart, aEnd) and b[bStart, bEnd) hold the same bytes (ranges in place: no subarray per comparison). */
export function sameBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false
  for (let i = 0; i < aEnd - aStart; i++) if (a[aStart + i] !== b[bStart + i]) return false
  return true
}

/** bytes[start, end) as a string when every byte is ASCII (DIDs, revs, keys), read in place; null otherwise. */
export function asciiText(bytes: Uint8Array, start: number, end: number): string | null {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return null
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', start, end)
}
