import { parentPort, workerData } from 'node:worker_threads'
import type { PlanOptions } from './plan-types.js'
import { Shard } from './shard.js'

/** Worker-thread host for one Shard; requests are answered one at a time, in order. */
export interface ShardWorkerData {
  plan: PlanOptions
  shard: number
  shardCount: number
}
export type ShardRequestBody = { kind: 'run'; end: number } | { kind: 'did-docs' }
export type ShardRequest = ShardRequestBody & { id: number }

const port = parentPort!
const data = workerData as ShardWorkerData
const shard = Shard.create(data.plan, data.shard, data.shardCount)
let queue: Promise<void> = Promise.resolve()

port.on('message', (request: ShardRequest) => {
  queue = queue.then(async () => {
    try {
      const s = await shard
      if (request.kind === 'run') {
        const frames = await s.runUntil(request.end)
        port.postMessage(
          { id: request.id, frames },
          frames.map((f) => f.bytes.buffer as ArrayBuffer),
        )
      } else {
        port.postMessage({ id: request.id, docs: await s.didDocuments() })
      }
    } catch (err) {
      port.postMessage({ id: request.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  })
})
