import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../common/logger.js'
import { decodeToResult, type DecodeResult, type DecodeSettings } from './decode-frame.js'
import type { DecodeRequest, DecodeResponse } from './decode-worker.js'
import { IngestorError, IngestorErrorCode } from './errors.js'

/** Turns a batch of raw frames into one DecodeResult per frame, in order. Never rejects. */
export interface FrameDecoder {
  decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]>
  close(): Promise<void>
  readonly workerFailures: number
}

export function createDecoder(inWorker: boolean, settings: DecodeSettings, logger: Logger): FrameDecoder {
  return inWorker ? new WorkerDecoder(settings, logger) : new InlineDecoder(settings)
}

/** Decodes on the calling thread (for comparison in the bench, and where threads are unwanted). */
class InlineDecoder implements FrameDecoder {
  readonly workerFailures = 0
  constructor(private readonly settings: DecodeSettings) {}

  async decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]> {
    return frames.map((bytes) => decodeToResult(bytes, this.settings))
  }

  async close(): Promise<void> {}
}

interface Pending {
  resolve: (results: DecodeResult[]) => void
  reject: (err: Error) => void
}

/**
 * Decodes in one worker thread. Each batch is copied into a single ArrayBuffer that is
 * transferred (not cloned) to the worker; results come back as plain objects. If the worker
 * dies, the batches it held are decoded inline and a new worker is started for the next batch.
 */
class WorkerDecoder implements FrameDecoder {
  private worker: Worker | null = null
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  private failures = 0
  private readonly script = new URL('./decode-worker.js', import.meta.url)

  constructor(
    private readonly settings: DecodeSettings,
    private readonly logger: Logger,
  ) {
    // Fail at start, not on the first batch: running from TypeScript sources has no worker file.
    if (!existsSync(fileURLToPath(this.script))) {
      throw new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `decode worker ${fileURLToPath(this.script)} is missing: run \`npm run build\` or decode on the main thread`, {
        reason: 'missing',
      })
    }
  }

  get workerFailures(): number {
    return this.failures
  }

  async decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]> {
    try {
      return await this.decodeInWorker(frames)
    } catch (err) {
      this.failures++
      this.logger.error({ err, frames: frames.length }, 'decode worker failed; decoding this batch on the main thread')
      return frames.map((bytes) => decodeToResult(bytes, this.settings))
    }
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    if (worker !== null) await worker.terminate()
  }

  private decodeInWorker(frames: readonly Uint8Array[]): Promise<DecodeResult[]> {
    const worker = this.ensureWorker()
    const offsets = new Array<number>(frames.length + 1)
    let total = 0
    for (let i = 0; i < frames.length; i++) {
      offsets[i] = total
      total += frames[i]!.byteLength
    }
    offsets[frames.length] = total
    const packed = new Uint8Array(total)
    for (let i = 0; i < frames.length; i++) packed.set(frames[i]!, offsets[i])
    const id = this.nextId++
    const request: DecodeRequest = { id, buffer: packed.buffer, offsets }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      worker.postMessage(request, [packed.buffer])
    })
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(this.script, { workerData: this.settings })
    worker.on('message', (response: DecodeResponse) => {
      const waiter = this.pending.get(response.id)
      this.pending.delete(response.id)
      waiter?.resolve(response.results)
    })
    const fail = (reason: string, cause?: unknown): void => {
      if (this.worker !== worker) return
      this.worker = null
      const err = new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `decode worker ${reason}`, { reason }, { cause })
      for (const waiter of this.pending.values()) waiter.reject(err)
      this.pending.clear()
    }
    worker.on('error', (err) => fail(`crashed: ${err.message}`, err))
    worker.on('exit', (code) => fail(`exited with code ${code}`))
    this.worker = worker
    return worker
  }
}
