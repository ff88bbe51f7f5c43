import type { FileHandle } from 'node:fs/promises'
import { ioError } from '../protocol/fixture/errors.js'

/**
 * Ordered appends to one open file. Chunks queue in memory until written; the queue is bounded
 * by the writer's backpressure (FixtureWriter counts `queuedBytes`), not here.
 */
export class FileSink {
  private queue: Buffer[] = []
  private pumping: Promise<void> | null = null
  private failure: Error | null = null
  queuedBytes = 0
  bytesWritten = 0

  constructor(
    private readonly file: FileHandle,
    private readonly path: string,
  ) {}

  /** The first write failure; chunks queued after it are dropped (the writer reports the failure). */
  get failed(): Error | null {
    return this.failure
  }

  /** Queues a chunk. Never throws, so it is safe inside stream event handlers; see `failed`. */
  write(chunk: Buffer): void {
    if (this.failure || chunk.length === 0) return
    this.queue.push(chunk)
    this.queuedBytes += chunk.length
    this.pumping ??= this.pump()
  }

  /** Resolves when every queued chunk is in the OS (a kill -9 keeps it; power loss needs sync()). */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping
    if (this.failure) throw this.failure
  }

  async sync(): Promise<void> {
    await this.idle()
    try {
      await this.file.datasync()
    } catch (err) {
      throw ioError(this.path, 'fsync', err)
    }
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue)
        this.queue = []
        let done = 0
        while (done < batch.length) {
          const { bytesWritten } = await this.file.write(batch, done, batch.length - done)
          done += bytesWritten
        }
        this.queuedBytes -= batch.length
        this.bytesWritten += batch.length
      }
    } catch (err) {
      this.failure = ioError(this.path, 'write', err)
    } finally {
      this.pumping = null
    }
  }
}
