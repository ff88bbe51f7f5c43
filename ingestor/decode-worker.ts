import { parentPort, workerData } from 'node:worker_threads'
import { decodeToResult, type DecodeResult, type DecodeSettings } from './decode-frame.js'

/** Main -> worker: a batch of frames packed into one transferred buffer; frame i is buffer[offsets[i], offsets[i+1]). */
export interface DecodeRequest {
  id: number
  buffer: ArrayBuffer
  offsets: number[]
}
/** Worker -> main: one result per frame, in order. */
export interface DecodeResponse {
  id: number
  results: DecodeResult[]
}

// Worker thread entry: decoding (CBOR, CAR, block hashes, JSON) runs here so the main thread
// keeps reading the socket and writing Redis meanwhile.
const settings = workerData as DecodeSettings
const port = parentPort
if (port === null) throw new Error('decode-worker.js must run as a worker thread')

port.on('message', (request: DecodeRequest) => {
  const frames = new Uint8Array(request.buffer)
  const results: DecodeResult[] = []
  for (let i = 0; i + 1 < request.offsets.length; i++) {
    results.push(decodeToResult(frames.subarray(request.offsets[i], request.offsets[i + 1]), settings))
  }
  const response: DecodeResponse = { id: request.id, results }
  port.postMessage(response)
})
