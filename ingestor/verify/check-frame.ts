import { VerifyError, VerifyErrorCode } from './errors.js'
import { verifyOps } from './mst-proof.js'
import { signatureValid, type SigningKey } from '../../protocol/signing-key.js'
import { readSignedCommit, readSignedFrame, type SignedFrame } from './signed-frame.js'

/** Why one frame failed verification (null: verified, or nothing to verify). */
export type Verdict = { code: VerifyErrorCode; message: string; seq: number | null } | null

/**
 * Every check of one #commit or #sync against its account's key (docs/verify.md): the commit
 * block, the signature, then the MST proofs. Pure CPU work, run in a verify worker or inline.
 */
export async function checkSigned(frame: SignedFrame, key: SigningKey): Promise<Verdict> {
  try {
    const { commit, unsigned } = readSignedCommit(frame)
    if (!signatureValid(key, unsigned, commit.sig)) {
      throw new VerifyError(VerifyErrorCode.BadSignature, `${frame.t} commit signature does not verify with ${frame.did}'s key ${key.didKey}`)
    }
    await verifyOps(frame, commit)
    return null
  } catch (err) {
    if (err instanceof VerifyError) return { code: err.code, message: err.message, seq: frame.seq }
    // Our own bug on upstream input must not stop ingestion (nor leave a worker's batch unanswered).
    return { code: VerifyErrorCode.Internal, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err), seq: frame.seq }
  }
}

/** checkSigned on a frame's bytes; null (no verdict) when they hold no #commit or #sync the checks can read: the decoder judges those. */
export async function checkFrameBytes(bytes: Uint8Array, key: SigningKey): Promise<Verdict> {
  const frame = readSignedFrame(bytes)
  return frame === null || frame.t === '#identity' ? null : checkSigned(frame, key)
}
