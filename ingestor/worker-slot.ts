import { Worker, type WorkerOptions } from 'node:worker_threads'
import { IngestorError, IngestorErrorCode } from './errors.js'

/**
 * One worker thread that answers requests tagged with an `id`, started by start() or on first
 * use, and again after it dies; a death rejects the requests it held (INGESTOR_DECODE_WORKER_FAILED), so the
 * caller can do their work on its own thread. Shared by the decode and the verify workers.
 */
export class WorkerSlot<Response extends { id: number }> {
  private worker: Worker | null = null
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (response: Response) => void; reject: (err: Error) => void }>()

  constructor(
    private readonly script: URL,
    /** Names the worker in errors ('decode worker'). */
    private readonly what: string,
    private readonly options: WorkerOptions = {},
  ) {}

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.waiting.size
  }

  /** Starts the worker now, so that its start-up (loading its modules) overlaps other work instead of delaying the first request. */
  start(): void {
    this.ensureWorker()
  }

  /** Posts the message `build` makes for a fresh id (transferring `transfer`); resolves with the worker's answer to it. */
  request(build: (id: number) => { message: unknown; transfer: ArrayBuffer[] }): Promise<Response> {
    const worker = this.ensureWorker()
    const id = this.nextId++
    const { message, transfer } = build(id)
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage(message, transfer)
    })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    if (worker !== null) await worker.terminate()
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(this.script, this.options)
    worker.on('message', (response: Response) => {
      const waiter = this.waiting.get(response.id)
      this.waiting.delete(response.id)
      waiter?.resolve(response)
    })
    const fail = (reason: string, cause?: unknown): void => {
      if (this.worker !== worker) return
      this.worker = null
      const err = new IngestorError(IngestorErrorCode.DecodeWorkerFailed, `${this.what} ${reason}`, { reason }, { cause })
      for (const waiter of this.waiting.values()) waiter.reject(err)
      this.waiting.clear()
    }
    worker.on('error', (err) => fail(`crashed: ${err.message}`, err))
    worker.on('exit', (code) => fail(`exited with code ${code}`))
    this.worker = worker
    return worker
  }
}
