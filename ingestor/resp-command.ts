import { Command } from 'ioredis'
import { JsonBytes } from '../protocol/json-bytes.js'

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
  // Sized once from an upper bound (a UTF-16 unit is at most 3 UTF-8 bytes; a bulk's head and CRLFs at most 21 bytes), so it does not grow.
  let bound = 16 + name.length * 3 + BULK_OVERHEAD
  for (const arg of args) bound += (typeof arg === 'string' ? arg.length * 3 : arg.length) + BULK_OVERHEAD
  const out = new JsonBytes(bound)
  out.ascii(`*${args.length + 1}\r\n`)
  bulk(out, name)
  for (const arg of args) bulk(out, arg)
  return out.bytes.subarray(0, out.length)
}

/** `$`, up to 16 digits of length, two CRLFs. */
const BULK_OVERHEAD = 21

function bulk(out: JsonBytes, arg: string | Buffer): void {
  if (typeof arg !== 'string') {
    out.ascii(`$${arg.length}\r\n`)
    out.copy(arg, 0, arg.length)
  } else {
    const length = byteLength(arg)
    out.ascii(`$${length}\r\n`)
    // ASCII (length = byte length) through JsonBytes' loop: most arguments are a few bytes.
    if (length === arg.length) out.ascii(arg)
    else out.utf8(arg)
  }
  out.ascii('\r\n')
}

/** UTF-8 byte length; a string of ASCII is its length, checked without a native call. */
function byteLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text)
  return text.length
}
