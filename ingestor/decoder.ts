import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../common/logger.js'
import { decodeInline, unpackBatch, type DecodeResult, type DecodeSettings } from './decode-frame.js'
import type { DecodeRequest, DecodeResponse } from './decode-worker.js'
import { IngestorError, IngestorErrorCode } from './errors.js'
import { WorkerSlot } from './worker-slot.js'

/** Turns a batch of raw frames into one DecodeResult per frame, in order. Never rejects. */
export interface FrameDecoder {
  decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]>
  close(): Promise<void>
  /** Batches that may be decoding at once (the pipeline keeps this many in flight). */
  readonly parallelism: number
  readonly workerFailures: number
}

/** `workers` 0 decodes on the calling thread; N > 0 uses N worker threads. */
export function createDecoder(workers: number, settings: DecodeSettings, logger: Logger): FrameDecoder {
  return workers === 0 ? new InlineDecoder(settings) : new WorkerPoolDecoder(workers, settings, logger)
}

/** Decodes on the calling thread (compared in the bench; for hosts where threads are unwanted). */
class InlineDecoder implements FrameDecoder {
  readonly parallelism = 1
  readonly workerFailures = 0
  constructor(private readonly settings: DecodeSettings) {}

  async decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]> {
    return decodeInline(frames, this.settings)
  }

  async close(): Promise<void> {}
}

/**
 * Decodes in worker threads, one batch per worker at a time. Each batch is copied into a
 * single ArrayBuffer that is transferred (not cloned) to the least busy worker; the entries'
 * JSON comes back UTF-8 in one transferred buffer too (decode-frame.ts EncodedBatch). If a worker dies, the batches it held are decoded inline and the slot
 * starts a new worker for its next batch.
 */
class WorkerPoolDecoder implements FrameDecoder {
  private readonly slots: DecodeThread[]
  private failures = 0

  constructor(
    workers: number,
    private readonly settings: DecodeSettings,
    private readonly logger: Logger,
  ) {
    const script = new URL('./decode-worker.js', import.meta.url)
    // Fail at start, not on the first batch: running from TypeScript sources has no worker file.
    if (!existsSync(fileURLToPath(script))) {
      throw new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `decode worker ${fileURLToPath(script)} is missing: run \`npm run build\` or decode on the main thread`, {
        reason: 'missing',
      })
    }
    this.slots = Array.from({ length: workers }, () => new DecodeThread(script, settings))
  }

  get parallelism(): number {
    return this.slots.length
  }

  get workerFailures(): number {
    return this.failures
  }

  async decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]> {
    const slot = this.slots.reduce((best, next) => (next.pending < best.pending ? next : best))
    try {
      return await slot.decode(frames)
    } catch (err) {
      this.failures++
      this.logger.error({ err, frames: frames.length }, 'decode worker failed; decoding this batch on the main thread')
      return decodeInline(frames, this.settings)
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.close()))
  }
}

/**
 * The worker's young generation (V8 default: up to 16 MiB of semi-spaces, kept committed once
 * grown). Its garbage dies within one batch, so small semi-spaces scavenge as cheaply and save
 * ~11 MiB of RSS (docs/performance.md).
 */
const WORKER_YOUNG_GENERATION_MB = 6

/** One decode worker thread (a WorkerSlot), reusing the request buffer each response hands back. */
class DecodeThread {
  private readonly slot: WorkerSlot<DecodeResponse>
  /** A request buffer the worker gave back, reused for the next batch. */
  private spare: ArrayBuffer | null = null

  constructor(script: URL, settings: DecodeSettings) {
    this.slot = new WorkerSlot(script, 'decode worker', { workerData: settings, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } })
    // Booting while Redis and the relay connect: the first batch after a restart does not wait for it.
    this.slot.start()
  }

  get pending(): number {
    return this.slot.pending
  }

  async decode(frames: readonly Uint8Array[]): Promise<DecodeResult[]> {
    const offsets = new Array<number>(frames.length + 1)
    let total = 0
    for (let i = 0; i < frames.length; i++) {
      offsets[i] = total
      total += frames[i]!.byteLength
    }
    offsets[frames.length] = total
    const buffer = this.packBuffer(total)
    const packed = new Uint8Array(buffer)
    for (let i = 0; i < frames.length; i++) packed.set(frames[i]!, offsets[i])
    const response = await this.slot.request((id) => ({ message: { id, buffer, offsets } satisfies DecodeRequest, transfer: [buffer] }))
    this.spare = response.request
    return unpackBatch(response.batch)
  }

  /**
   * A buffer of at least `bytes` to pack a batch into: the one the worker handed back with its
   * last response when it is large enough. Fresh megabytes per batch cost more in page faults
   * than the copy itself.
   */
  private packBuffer(bytes: number): ArrayBuffer {
    const spare = this.spare
    this.spare = null
    if (spare !== null && spare.byteLength >= bytes) return spare
    return new ArrayBuffer(Math.max(bytes, spare?.byteLength ?? 0))
  }

  close(): Promise<void> {
    return this.slot.close()
  }
}
