/**
 * Text built as UTF-8 bytes in one growing buffer, which owns its ArrayBuffer (so a worker can
 * transfer it): the entries' JSON (`string` writes exactly what JSON.stringify would), and the
 * RESP of the write command (ingestor/resp-command.ts) through the same byte writers.
 */
export class JsonBytes {
  bytes: Buffer
  length = 0

  constructor(initialBytes = 1024) {
    this.bytes = Buffer.allocUnsafeSlow(Math.max(initialBytes, 64))
  }

  /** Room for `more` bytes past the end. */
  reserve(more: number): void {
    if (this.length + more <= this.bytes.length) return
    const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.length + more))
    this.bytes.copy(grown, 0, 0, this.length)
    this.bytes = grown
  }

  byte(value: number): void {
    this.reserve(1)
    this.bytes[this.length++] = value
  }

  /** Text known to be ASCII (punctuation, numbers, base32, base64). */
  ascii(text: string): void {
    this.reserve(text.length)
    if (text.length > NATIVE_FROM) {
      this.length += this.bytes.write(text, this.length, 'latin1')
      return
    }
    // Short strings: a loop beats the native call's overhead.
    const bytes = this.bytes
    let at = this.length
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i)
    this.length = at
  }

  /** Any text, as UTF-8. */
  utf8(text: string): void {
    // A UTF-16 unit takes at most 3 UTF-8 bytes.
    this.reserve(text.length * 3)
    this.length += this.bytes.write(text, this.length, 'utf8')
  }

  copy(source: Uint8Array, start: number, end: number): void {
    this.reserve(end - start)
    if (end - start > NATIVE_FROM) {
      this.bytes.set(source.subarray(start, end), this.length)
      this.length += end - start
      return
    }
    const bytes = this.bytes
    let at = this.length
    for (let i = start; i < end; i++) bytes[at++] = source[i]!
    this.length = at
  }

  /** JSON.stringify(text). */
  string(text: string): void {
    this.reserve(text.length + 2)
    // Written while checked; anything JSON escapes, or non-ASCII, starts over through JSON.stringify.
    const bytes = this.bytes
    let at = this.length
    bytes[at++] = 0x22
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return this.utf8(JSON.stringify(text))
      bytes[at++] = c
    }
    bytes[at++] = 0x22
    this.length = at
  }
}

/** Longer than this, strings and byte ranges go through one native call. */
const NATIVE_FROM = 48
