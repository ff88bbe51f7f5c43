import { parentPort } from 'node:worker_threads'
import { checkSigned, type Verdict } from './check-frame.js'
import { readSignedFrame } from './signed-frame.js'
import { parseSigningKey, type SigningKey } from './signing-key.js'

/** Main -> worker: frames packed into one transferred buffer (frame i is buffer[offsets[i], offsets[i+1])), each with the multikey to check it with. */
export interface VerifyRequest {
  id: number
  buffer: ArrayBuffer
  offsets: number[]
  keys: string[]
}
/** Worker -> main: one verdict per frame, in order. */
export interface VerifyResponse {
  id: number
  verdicts: Verdict[]
}

/** Parsed keys by multikey; cleared when it reaches this size (a batch holds at most a few hundred accounts). */
const MAX_KEYS = 10_000

// Worker thread entry: signature and MST checks (the CPU-heavy part of --verify) run here, so the
// main thread keeps reading the socket, resolving DIDs and writing Redis meanwhile.
const port = parentPort
if (port === null) throw new Error('verify-worker.js must run as a worker thread')
const keys = new Map<string, SigningKey>()

port.on('message', (request: VerifyRequest) => {
  void verifyAll(request).then((verdicts) => port.postMessage({ id: request.id, verdicts } satisfies VerifyResponse))
})

async function verifyAll(request: VerifyRequest): Promise<Verdict[]> {
  const packed = new Uint8Array(request.buffer)
  const verdicts: Verdict[] = []
  for (let i = 0; i < request.keys.length; i++) {
    const frame = readSignedFrame(packed.subarray(request.offsets[i], request.offsets[i + 1]))
    // The main thread sent only frames it read as #commit/#sync.
    verdicts.push(frame === null || frame.t === '#identity' ? null : await checkSigned(frame, keyFor(request.keys[i]!)))
  }
  return verdicts
}

function keyFor(multikey: string): SigningKey {
  let key = keys.get(multikey)
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear()
    key = parseSigningKey(multikey)
    keys.set(multikey, key)
  }
  return key
}
