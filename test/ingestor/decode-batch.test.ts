import { describe, expect, it } from 'vitest'
import { decodeInline } from '../../ingestor/decode-frame.js'
import { pushEntryFields } from '../../ingestor/encoded-entry.js'
import { isFrameDecodeError } from '../../protocol/errors.js'
import { decodeEvent } from '../../protocol/events.js'
import { entryFields, isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { allRealFrames } from '../protocol/helpers.js'

/** What decodeEvent + toStreamEntry say about one frame, as the batch must report it. */
function expected(bytes: Uint8Array): { kind: string; type?: string; seq?: number | null; data?: string; code?: string } {
  try {
    const event = decodeEvent(bytes)
    if (isSequenced(event)) {
      const { type, seq, data } = toStreamEntry(event)
      return { kind: 'entry', type, seq, data }
    }
    return { kind: 'skip' }
  } catch (err) {
    if (!isFrameDecodeError(err)) throw err
    return { kind: 'bad', code: err.code }
  }
}

describe('decode batches (worker transport)', () => {
  it('every real frame, with garbage between: each result in order, entry JSON byte-identical to toStreamEntry', () => {
    const real = allRealFrames().map((f) => f.bytes)
    const garbage = [Uint8Array.of(0xa1), new Uint8Array(0), Uint8Array.of(0xff, 0xff)]
    const frames = real.flatMap((bytes, i) => (i % 7 === 3 ? [bytes, garbage[i % garbage.length]!] : [bytes]))
    const results = decodeInline(frames, { verifyBlocks: 'all' })
    expect(results).toHaveLength(frames.length)
    let entries = 0
    results.forEach((result, i) => {
      const want = expected(frames[i]!)
      expect(result.kind, `frame ${i}`).toBe(want.kind)
      if (result.kind === 'entry') {
        entries++
        expect({ type: result.entry.type, seq: result.entry.seq, data: result.entry.data }).toEqual({ type: want.type, seq: want.seq, data: want.data })
        expect(result.entry.dataBytes.equals(Buffer.from(want.data!, 'utf8'))).toBe(true)
      }
      if (result.kind === 'bad') expect(result.code).toBe(want.code)
    })
    expect(entries).toBeGreaterThan(real.length / 2)
    expect(results.filter((r) => r.kind === 'bad').length).toBeGreaterThanOrEqual(garbage.length)
  })

  it('an encoded entry gives the same contract fields as entryFields, its JSON as bytes', () => {
    const [result] = decodeInline([allRealFrames()[0]!.bytes], { verifyBlocks: 'all' })
    if (result?.kind !== 'entry') throw new Error('first real frame is not an entry')
    const args: (string | Buffer)[] = []
    pushEntryFields(args, result.entry)
    expect(args.map((a) => a.toString())).toEqual(entryFields({ type: result.entry.type, seq: result.entry.seq, data: result.entry.data }))
    expect(Buffer.isBuffer(args[3])).toBe(true)
    const plain: (string | Buffer)[] = []
    pushEntryFields(plain, { type: 'identity', seq: 7, data: '{"did":"did:plc:x"}' })
    expect(plain).toEqual(['type', 'identity', 'data', '{"did":"did:plc:x"}', 'seq', '7'])
  })
})
