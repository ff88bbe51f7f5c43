import type { DecodeResult } from '../decode-frame.js'
import type { Verdict } from './check-frame.js'

/** The decoder's results with every published frame that failed verification turned into a dead letter. */
export function applyVerdicts(results: DecodeResult[], verdicts: readonly Verdict[]): DecodeResult[] {
  return results.map((result, i) => {
    const verdict = verdicts[i]
    // A frame the decoder already refused keeps its decode code; filtered frames are not published anyway.
    if (verdict === null || verdict === undefined || result.kind !== 'entry') return result
    return { kind: 'bad', seq: verdict.seq, code: verdict.code, message: verdict.message, decoded: true }
  })
}
