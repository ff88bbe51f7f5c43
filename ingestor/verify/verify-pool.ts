import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../../common/logger.js'
import { IngestorError, IngestorErrorCode } from '../errors.js'
import { WorkerSlot } from '../worker-slot.js'
import { checkFrameBytes, type Verdict } from './check-frame.js'
import type { FrameSigner } from './signed-frame.js'
import type { SigningKey } from '../../protocol/signing-key.js'
import type { VerifyRequest, VerifyResponse } from './verify-worker.js'

/** One frame to check: its bytes (sent to a worker, or checked inline), whose it is, and the key. */
export interface VerifyJob {
  bytes: Uint8Array
  signer: FrameSigner
  key: SigningKey
}

/**
 * Runs the CPU-heavy checks of --verify (checkSigned) in `workers` threads, each batch split
 * evenly over them; 0 runs them on the calling thread. A worker that dies
 * fails its batches over to the calling thread and is started again for the next batch.
 */
export class VerifyPool {
  private readonly threads: VerifyThread[]

  constructor(
    workers: number,
    private readonly logger: Logger,
  ) {
    const script = new URL('./verify-worker.js', import.meta.url)
    // Fail at start, not on the first batch: running from TypeScript sources has no worker file.
    if (workers > 0 && !existsSync(fileURLToPath(script))) {
      throw new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `verify worker ${fileURLToPath(script)} is missing: run \`npm run build\` or verify on the main thread`, { reason: 'missing' })
    }
    this.threads = Array.from({ length: workers }, () => new VerifyThread(script))
  }

  /** One verdict per job, in order. The jobs are split evenly over the workers; a worker queues the next batch's share behind this one's (the pipeline has at most two batches verifying). */
  async check(jobs: readonly VerifyJob[]): Promise<Verdict[]> {
    if (jobs.length === 0) return []
    if (this.threads.length === 0) return checkInline(jobs)
    const size = Math.ceil(jobs.length / this.threads.length)
    const parts = this.threads.map((thread, i) => this.checkOn(thread, jobs.slice(i * size, (i + 1) * size)))
    return (await Promise.all(parts)).flat()
  }

  private async checkOn(thread: VerifyThread, jobs: readonly VerifyJob[]): Promise<Verdict[]> {
    if (jobs.length === 0) return []
    try {
      return await thread.check(jobs)
    } catch (err) {
      this.logger.error({ err, frames: jobs.length }, 'verify worker failed; verifying its share of the batch on the main thread')
      return checkInline(jobs)
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()))
  }
}

export async function checkInline(jobs: readonly VerifyJob[]): Promise<Verdict[]> {
  const verdicts: Verdict[] = []
  for (const job of jobs) verdicts.push(await checkFrameBytes(job.bytes, job.key))
  return verdicts
}

/** One verify worker thread (a WorkerSlot). */
class VerifyThread {
  private readonly slot: WorkerSlot<VerifyResponse>

  constructor(script: URL) {
    this.slot = new WorkerSlot(script, 'verify worker')
  }

  async check(jobs: readonly VerifyJob[]): Promise<Verdict[]> {
    const offsets = [0]
    for (const job of jobs) offsets.push(offsets[offsets.length - 1]! + job.bytes.byteLength)
    const packed = new Uint8Array(offsets[jobs.length]!)
    jobs.forEach((job, i) => packed.set(job.bytes, offsets[i]))
    const keys = jobs.map((job) => job.key)
    const response = await this.slot.request((id) => ({ message: { id, buffer: packed.buffer, offsets, keys } satisfies VerifyRequest, transfer: [packed.buffer] }))
    if (response.error !== undefined) throw new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `verify worker failed on a batch: ${response.error}`, { reason: 'threw' })
    return response.verdicts
  }

  close(): Promise<void> {
    return this.slot.close()
  }
}
