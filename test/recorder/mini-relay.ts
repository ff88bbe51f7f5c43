import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { encodeFrame } from '../../protocol/frame.js'
import { peekFrame } from '../../protocol/peek.js'

export interface MiniRelayOptions {
  frames: Uint8Array[]
  /** Frames per second per connection; default as fast as the socket takes them. */
  ratePerSec?: number
  /** Abruptly drop connection `index` after sending this many frames (null: never). */
  dropAfter?: (index: number) => number | null
  /** Oldest seq connection `index` can still serve; an older cursor gets #info OutdatedCursor first. */
  oldestSeq?: (index: number) => number
  /** Serve seq >= cursor instead of > cursor (the off-by-one some relays have, indigo issue 837). */
  inclusiveCursor?: boolean
}

export interface MiniRelay {
  url: string
  /** Cursor asked per connection (null: none). */
  cursors: (number | null)[]
  close(): Promise<void>
}

export const OUTDATED_CURSOR_FRAME = encodeFrame({ op: 1, t: '#info' }, { name: 'OutdatedCursor', message: 'cursor older than the window' })

/**
 * A small relay for recorder tests: serves a frame list with real cursor semantics, optional
 * pacing, abrupt drops and a retention window. Frames go out byte-for-byte. Without a cursor a
 * client gets the list from the start (a timeline that begins when it connects).
 */
export async function startMiniRelay(options: MiniRelayOptions): Promise<MiniRelay> {
  const seqs = options.frames.map((bytes) => peekFrame(bytes).seq ?? -1)
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  const cursors: (number | null)[] = []
  wss.on('connection', (ws, req) => {
    const index = cursors.length
    const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor')
    const cursor = raw === null ? null : Number(raw)
    cursors.push(cursor)
    ws.on('error', () => {})
    let start = 0
    if (cursor !== null) {
      const oldest = options.oldestSeq?.(index) ?? seqs[0]!
      const from = cursor + 1 < oldest ? oldest : options.inclusiveCursor === true ? cursor : cursor + 1
      if (cursor + 1 < oldest) ws.send(OUTDATED_CURSOR_FRAME)
      start = seqs.findIndex((seq) => seq >= from)
      if (start === -1) start = seqs.length
    }
    serve(ws, start, options.dropAfter?.(index) ?? null)
  })

  function serve(ws: WebSocket, start: number, dropAfter: number | null): void {
    let next = start
    let sent = 0
    const intervalMs = options.ratePerSec === undefined ? 0 : 1000 / options.ratePerSec
    const tick = (): void => {
      if (ws.readyState !== ws.OPEN) return
      let budget = options.ratePerSec === undefined ? 512 : 1
      while (budget-- > 0 && next < options.frames.length && ws.bufferedAmount < 1 << 20) {
        if (dropAfter !== null && sent >= dropAfter) {
          ws.terminate()
          return
        }
        ws.send(options.frames[next++]!)
        sent++
      }
      if (next < options.frames.length) setTimeout(tick, ws.bufferedAmount >= 1 << 20 ? 5 : intervalMs)
    }
    tick()
  }

  const { port } = wss.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/xrpc/com.atproto.sync.subscribeRepos`,
    cursors,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}
