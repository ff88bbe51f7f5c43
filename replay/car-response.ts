import type { ServerResponse } from 'node:http'
import type { Timers } from '../common/timers.js'

export const CAR_CONTENT_TYPE = 'application/vnd.ipld.car'
/** A slow body is written in one piece per tick. */
const TRICKLE_TICK_MS = 100

/** How a CAR body goes out: whole, trickled at a rate, or cut off after some bytes (connection destroyed). */
export type CarDelivery = { kind: 'whole' } | { kind: 'slow'; bytesPerSec: number } | { kind: 'truncate'; bytes: number | undefined }

/**
 * Answers 200 with the CAR `parts` (car-writer.ts) and the full Content-Length in every case, so a
 * client sees a cut body as a short read. Whole bodies go out with socket backpressure; a slow one
 * a slice per 100 ms; a truncated one stops after `bytes` (default half, always at least one byte
 * short) and then destroys the connection. A client that leaves ends the writing.
 */
export async function sendCar(res: ServerResponse, parts: readonly Uint8Array[], delivery: CarDelivery, timers: Timers): Promise<void> {
  const total = parts.reduce((n, part) => n + part.byteLength, 0)
  res.writeHead(200, { 'Content-Type': CAR_CONTENT_TYPE, 'Content-Length': total })
  switch (delivery.kind) {
    case 'whole':
      for (const part of parts) if (!res.write(part) && !(await drained(res))) return
      res.end()
      return
    case 'slow':
      return trickle(res, Buffer.concat(parts), Math.max(1, Math.round((delivery.bytesPerSec * TRICKLE_TICK_MS) / 1000)), timers)
    case 'truncate': {
      const cut = Math.min(delivery.bytes ?? Math.floor(total / 2), total - 1)
      const body = Buffer.concat(parts).subarray(0, cut)
      res.write(body, () => res.destroy())
      return
    }
  }
}

/** True once the response can take more; false when it closed first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain)
      res.off('close', onClose)
      resolve(ok)
    }
    const onDrain = (): void => done(true)
    const onClose = (): void => done(false)
    res.on('drain', onDrain)
    res.on('close', onClose)
  })
}

function trickle(res: ServerResponse, body: Buffer, slice: number, timers: Timers): Promise<void> {
  return new Promise((resolve) => {
    let at = 0
    let timer: ReturnType<Timers['setTimeout']> | null = null
    const stop = (): void => {
      if (timer !== null) timers.clearTimeout(timer)
      resolve()
    }
    res.once('close', stop)
    const step = (): void => {
      timer = null
      const next = Math.min(body.length, at + slice)
      res.write(body.subarray(at, next))
      at = next
      if (at < body.length) timer = timers.setTimeout(step, TRICKLE_TICK_MS)
      else {
        res.off('close', stop)
        res.end()
        resolve()
      }
    }
    step()
  })
}
