import type { Redis } from 'ioredis'
import { decodeEvent } from '../../protocol/events.js'
import { isSequenced } from '../../protocol/stream-entry.js'

/**
 * What the legacy consumer (the Python process the ingestor replaces, docs/migration.md) wrote
 * for a frame: `type`, `data`, `seq` in the contract's order, but data without records, CIDs,
 * rev or time: commit `{repo, ops: [{action, path}]}`, identity `{did, handle}`, account
 * `{did, active}`, sync `{did}`. Null for frames it did not write (not sequenced).
 */
export function legacyEntryFields(frame: Uint8Array): string[] | null {
  const event = decodeEvent(frame)
  if (!isSequenced(event)) return null
  const data =
    event.type === 'commit'
      ? { repo: event.repo, ops: event.ops.map((op) => ({ action: op.action, path: op.path })) }
      : event.type === 'identity'
        ? { did: event.did, handle: event.handle }
        : event.type === 'account'
          ? { did: event.did, active: event.active }
          : { did: event.did }
  return ['type', event.type, 'data', JSON.stringify(data), 'seq', String(event.seq)]
}

/**
 * Leaves Redis as the legacy consumer leaves it: `frames` written to `stream` in its format, its
 * cursor stored in `cursorKey` a few seconds behind (at `cursorAt`, as its every-5-s SET left it).
 */
export async function writeAsLegacyConsumer(redis: Redis, stream: string, frames: readonly Uint8Array[], cursorKey: string, cursorAt: number): Promise<number> {
  const pipeline = redis.pipeline()
  let written = 0
  for (const frame of frames) {
    const fields = legacyEntryFields(frame)
    if (fields === null) continue
    pipeline.xadd(stream, '*', ...fields)
    written++
  }
  pipeline.set(cursorKey, String(cursorAt))
  await pipeline.exec()
  return written
}
