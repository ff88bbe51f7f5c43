import WebSocket from 'ws'
import { urlWithCursor } from '../client/relay-client.js'

export interface ProbeResult {
  ok: boolean
  /** What happened, for the log line. */
  detail: string
}

/**
 * Is a relay healthy again? A WebSocket connect from `cursor` that opens and delivers one
 * binary frame within timeoutMs. An open socket that sends nothing (a stalled relay) is not
 * healthy. The frame is discarded: a probe never feeds the pipeline, so it cannot write anything.
 */
export function probeRelay(url: string, cursor: number | null, timeoutMs: number, maxPayloadBytes: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(urlWithCursor(url, cursor), { handshakeTimeout: timeoutMs, perMessageDeflate: false, maxPayload: maxPayloadBytes })
    let settled = false
    const finish = (ok: boolean, detail: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      ws.terminate()
      resolve({ ok, detail })
    }
    const timer = setTimeout(() => finish(false, `no frame within ${timeoutMs} ms`), timeoutMs)
    ws.on('message', (_data, isBinary) => {
      if (isBinary) finish(true, 'delivered a frame')
    })
    ws.on('unexpected-response', (_req, res) => {
      res.resume()
      finish(false, `handshake refused: HTTP ${res.statusCode ?? 0}`)
    })
    // After terminate() ws may still report the aborted handshake; the result is already settled.
    ws.on('error', (err) => finish(false, `socket error: ${err.message}`))
    ws.on('close', (code) => finish(false, `closed (${code}) before a frame`))
  })
}
