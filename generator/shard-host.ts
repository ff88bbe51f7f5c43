import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { PlanOptions } from './plan-types.js'
import { Shard, type ShardFrame } from './shard.js'
import type { ShardRequestBody, ShardWorkerData } from './worker.js'

/** A shard running either in this thread or in a worker thread; same answers either way. */
export interface ShardHost {
  runUntil(end: number): Promise<ShardFrame[]>
  didDocuments(): Promise<Record<string, Record<string, unknown>>>
  close(): Promise<void>
}

export async function inThreadShard(plan: PlanOptions): Promise<ShardHost> {
  const shard = await Shard.create(plan, 0, 1)
  return { runUntil: (end) => shard.runUntil(end), didDocuments: () => shard.didDocuments(), close: async () => undefined }
}

/**
 * The compiled worker script. Under a TypeScript runner (vitest) this module is the .ts source,
 * which a worker thread cannot load, so the build output in dist/ is used instead.
 */
function workerScript(): URL {
  const here = new URL('./worker.js', import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return here
  const compiled = new URL('../dist/generator/worker.js', import.meta.url)
  if (!existsSync(fileURLToPath(compiled))) throw new Error(`worker threads need the build output ${fileURLToPath(compiled)}: run npm run build`)
  return compiled
}

export function workerShard(plan: PlanOptions, shard: number, shardCount: number): ShardHost {
  const worker = new Worker(workerScript(), { workerData: { plan, shard, shardCount } satisfies ShardWorkerData })
  const pending = new Map<number, { resolve: (value: never) => void; reject: (err: Error) => void }>()
  let nextId = 0
  let failure: Error | null = null
  const failAll = (err: Error): void => {
    failure ??= err
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  worker.on('message', (message: { id: number; error?: string; frames?: ShardFrame[]; docs?: unknown }) => {
    const p = pending.get(message.id)
    if (!p) return
    pending.delete(message.id)
    if (message.error !== undefined) p.reject(new Error(`generator shard ${shard}: ${message.error}`))
    else p.resolve((message.frames ?? message.docs) as never)
  })
  worker.on('error', failAll)
  worker.on('exit', (code) => failAll(new Error(`generator shard ${shard} exited with code ${code}`)))
  const request = <T>(body: ShardRequestBody): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failure) return reject(failure)
      const id = nextId++
      pending.set(id, { resolve, reject })
      worker.postMessage({ ...body, id })
    })
  return {
    runUntil: (end) => request<ShardFrame[]>({ kind: 'run', end }),
    didDocuments: () => request({ kind: 'did-docs' }),
    close: async () => {
      worker.removeAllListeners('exit')
      await worker.terminate()
    },
  }
}
