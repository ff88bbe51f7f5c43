import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../../common/logger.js'
import { IngestorError, IngestorErrorCode } from '../errors.js'
import { checkSigned, type Verdict } from './check-frame.js'
import type { SignedFrame } from './signed-frame.js'
import type { SigningKey } from './signing-key.js'
import type { VerifyRequest, VerifyResponse } from './verify-worker.js'

/** One frame to check: its bytes (sent to a worker), its parsed form (inline fallback) and the key. */
export interface VerifyJob {
  bytes: Uint8Array
  frame: SignedFrame
  key: SigningKey
}

/**
 * Runs the CPU-heavy checks of --verify (checkSigned) in `workers` threads, each batch split
 * evenly over them; 0 runs them on the calling thread. A worker that dies
 * fails its batches over to the calling thread and is started again for the next batch.
 */
export class VerifyPool {
  private readonly threads: VerifyThread[]

  constructor(workers: number, private readonly logger: Logger) {
    const script = new URL('./verify-worker.js', import.meta.url)
    // Fail at start, not on the first batch: running from TypeScript sources has no worker file.
    if (workers > 0 && !existsSync(fileURLToPath(script))) {
      throw new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `verify worker ${fileURLToPath(script)} is missing: run \`npm run build\` or verify on the main thread`, { reason: 'missing' })
    }
    this.threads = Array.from({ length: workers }, () => new VerifyThread(script))
  }

  /** One verdict per job, in order. The jobs are split evenly over the workers: the pipeline has one batch in flight. */
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
  for (const job of jobs) verdicts.push(await checkSigned(job.frame, job.key))
  return verdicts
}

/** One worker thread, started on first use and again after it dies. */
class VerifyThread {
  private worker: Worker | null = null
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (verdicts: Verdict[]) => void; reject: (err: Error) => void }>()

  constructor(private readonly script: URL) {}

  check(jobs: readonly VerifyJob[]): Promise<Verdict[]> {
    const worker = this.ensureWorker()
    const offsets = [0]
    for (const job of jobs) offsets.push(offsets[offsets.length - 1]! + job.bytes.byteLength)
    const packed = new Uint8Array(offsets[jobs.length]!)
    jobs.forEach((job, i) => packed.set(job.bytes, offsets[i]))
    const id = this.nextId++
    const request: VerifyRequest = { id, buffer: packed.buffer, offsets, keys: jobs.map((job) => job.key) }
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage(request, [packed.buffer])
    })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    if (worker !== null) await worker.terminate()
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(this.script)
    worker.on('message', (response: VerifyResponse) => {
      const waiter = this.waiting.get(response.id)
      this.waiting.delete(response.id)
      if (response.error === undefined) waiter?.resolve(response.verdicts)
      else waiter?.reject(new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `verify worker failed on a batch: ${response.error}`, { reason: 'threw' }))
    })
    const fail = (reason: string, cause?: unknown): void => {
      if (this.worker !== worker) return
      this.worker = null
      const err = new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `verify worker ${reason}`, { reason }, { cause })
      for (const waiter of this.waiting.values()) waiter.reject(err)
      this.waiting.clear()
    }
    worker.on('error', (err) => fail(`crashed: ${err.message}`, err))
    worker.on('exit', (code) => fail(`exited with code ${code}`))
    this.worker = worker
    return worker
  }
}
