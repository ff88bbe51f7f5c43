import { parentPort, workerData } from 'node:worker_threads'
import { decodeBatch, type DecodeSettings, type EncodedBatch } from './decode-frame.js'

/** Main -> worker: a batch of frames packed into one transferred buffer; frame i is buffer[offsets[i], offsets[i+1]). */
export interface DecodeRequest {
  id: number
  buffer: ArrayBuffer
  offsets: number[]
}
/** Worker -> main: one result per frame, in order; its buffers are transferred. */
export interface DecodeResponse {
  id: number
  batch: EncodedBatch
  /** The request's buffer, handed back for the next batch. */
  request: ArrayBuffer
}

// Worker thread entry: decoding (CBOR, CAR, block hashes, JSON, UTF-8) runs here so the main
// thread keeps reading the socket and writing Redis meanwhile.
const settings = workerData as DecodeSettings
const port = parentPort
if (port === null) throw new Error('decode-worker.js must run as a worker thread')

port.on('message', (request: DecodeRequest) => {
  const batch = decodeBatch(new Uint8Array(request.buffer), request.offsets, settings)
  const response: DecodeResponse = { id: request.id, batch, request: request.buffer }
  port.postMessage(response, [batch.json, batch.entries.buffer as ArrayBuffer, request.buffer])
})
