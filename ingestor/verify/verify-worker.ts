import { parentPort } from 'node:worker_threads'
import { checkFrameBytes, type Verdict } from './check-frame.js'
import { gComb } from '../../protocol/secp256k1/g-table.js'
import type { SigningKey } from '../../protocol/signing-key.js'

/** Main -> worker: frames packed into one transferred buffer (frame i is buffer[offsets[i], offsets[i+1])), each with the key to check it with. */
export interface VerifyRequest {
  id: number
  buffer: ArrayBuffer
  offsets: number[]
  keys: SigningKey[]
}
/** Worker -> main: one verdict per frame, in order, or what threw (our bug: the main thread retries the batch inline). */
export interface VerifyResponse {
  id: number
  verdicts: Verdict[]
  error?: string
}

// Worker thread entry: signature and MST checks (the CPU-heavy part of --verify) run here, so the
// main thread keeps reading the socket, resolving DIDs and writing Redis meanwhile.
const port = parentPort
if (port === null) throw new Error('verify-worker.js must run as a worker thread')
// G's comb (~0.25 s of CPU, 2.8 MiB) at the worker's start, beside the ingestor's connecting, not in the first batch's latency.
gComb()

port.on('message', (request: VerifyRequest) => {
  void verifyAll(request).then(
    (verdicts) => port.postMessage({ id: request.id, verdicts } satisfies VerifyResponse),
    (err: unknown) => port.postMessage({ id: request.id, verdicts: [], error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) } satisfies VerifyResponse),
  )
})

async function verifyAll(request: VerifyRequest): Promise<Verdict[]> {
  const packed = new Uint8Array(request.buffer)
  const verdicts: Verdict[] = []
  for (let i = 0; i < request.keys.length; i++) {
    verdicts.push(await checkFrameBytes(packed.subarray(request.offsets[i], request.offsets[i + 1]), withBuffer(request.keys[i]!)))
  }
  return verdicts
}

/** A structured clone turns the key's Buffer into a plain Uint8Array; node:crypto takes either, the type wants a Buffer. */
function withBuffer(key: SigningKey): SigningKey {
  return { ...key, spki: Buffer.from(key.spki.buffer, key.spki.byteOffset, key.spki.byteLength) }
}
