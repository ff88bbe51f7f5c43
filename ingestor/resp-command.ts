import { Command } from 'ioredis'

/**
 * A Redis command encoded in RESP by us, into one buffer, before ioredis sees it. For the write
 * script's EVALSHA, whose thousands of arguments ioredis would otherwise flatten, stringify,
 * collect as a list of small strings and buffers and concatenate again for every write. The bytes
 * are exactly what ioredis writes for the same arguments (test/ingestor/resp-command.test.ts).
 */
export class EncodedCommand extends Command {
  /**
   * `keyArgs`: the leading arguments up to the last key (for EVALSHA: sha, numkeys, the keys), from
   * which ioredis computes a cluster slot; `encoded`: encodeRespCommand(name, all arguments).
   */
  constructor(
    name: string,
    keyArgs: (string | Buffer)[],
    private readonly encoded: Buffer,
  ) {
    super(name, keyArgs, { replyEncoding: 'utf8' })
  }

  override toWritable(): Buffer {
    return this.encoded
  }
}

/** `*<n>\r\n` then `$<bytes>\r\n<arg>\r\n` for the name and each argument, as ioredis encodes them. */
export function encodeRespCommand(name: string, args: readonly (string | Buffer)[]): Buffer {
  let size = 16 + bulkSize(name)
  for (const arg of args) size += bulkSize(arg)
  const out = Buffer.allocUnsafe(size)
  let at = ascii(out, 0, `*${args.length + 1}\r\n`)
  at = bulk(out, at, name)
  for (const arg of args) at = bulk(out, at, arg)
  return out.subarray(0, at)
}

/** Bytes of one bulk string: `$`, the length's digits, CRLF, the bytes, CRLF. */
function bulkSize(arg: string | Buffer): number {
  const length = typeof arg === 'string' ? byteLength(arg) : arg.length
  return length + String(length).length + 5
}

function bulk(out: Buffer, at: number, arg: string | Buffer): number {
  if (typeof arg !== 'string') {
    at = ascii(out, at, `$${arg.length}\r\n`)
    arg.copy(out, at)
    return ascii(out, at + arg.length, '\r\n')
  }
  const length = byteLength(arg)
  at = ascii(out, at, `$${length}\r\n`)
  // ASCII (length = byte length) is written by a loop: most arguments are a few bytes.
  at = length === arg.length ? ascii(out, at, arg) : at + out.write(arg, at, 'utf8')
  return ascii(out, at, '\r\n')
}

/** UTF-8 byte length; a string of ASCII is its length, checked without a native call. */
function byteLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text)
  return text.length
}

/** Text known to be ASCII; short text by a loop, which beats a native call's overhead. */
function ascii(out: Buffer, at: number, text: string): number {
  if (text.length > 48) return at + out.write(text, at, 'latin1')
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i)
  return at
}
