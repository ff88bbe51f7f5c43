import type { IncomingMessage, ServerResponse } from 'node:http'
import { FirehoseError } from '../common/firehose-error.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import { parseReplayRate } from './pacer.js'
import { SUBSCRIBE_PATH, type ReplayHandle } from './types.js'

/** Control request bodies are tiny JSON objects; anything larger is refused (413). */
const MAX_BODY_BYTES = 64 * 1024

type Control = Pick<ReplayHandle, 'status' | 'setRate' | 'pause' | 'resume'> & {
  /** Validates every fault, then injects all of them or none; returns how many. */
  injectFaults(faults: readonly unknown[]): number
}

/**
 * Plain HTTP on the replay port: GET /_replay/status, POST /_replay/rate | pause | resume | fault.
 * Errors answer JSON `{error, message}` with 400 (bad input), 403 (a `Host` or `Origin` that is not
 * this server's, see own-origin.ts: checked before anything else), 404, 405 or 413.
 */
export function controlHandler(control: Control, refusal: (req: IncomingMessage) => string | null): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const reason = refusal(req)
    if (reason !== null) {
      req.resume() // the body is not read; let the connection finish
      return send(res, 403, { error: 'Forbidden', message: reason }, { Connection: 'close' })
    }
    handle(control, req, res).catch((err: unknown) => {
      if (err instanceof FirehoseError) {
        const { code, message } = err as FirehoseError
        send(res, code === ReplayErrorCode.BodyTooLarge ? 413 : 400, { error: code, message })
      } else send(res, 500, { error: 'Internal', message: err instanceof Error ? err.message : String(err) })
    })
  }
}

async function handle(control: Control, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://replay.invalid').pathname
  const route = ROUTES[path]
  if (route === undefined) {
    if (path === SUBSCRIBE_PATH) return send(res, 426, { error: 'UpgradeRequired', message: 'subscribeRepos is a WebSocket endpoint' })
    return send(res, 404, { error: 'NotFound', message: `no route ${path}` })
  }
  if (req.method !== route) return send(res, 405, { error: 'MethodNotAllowed', message: `${path} takes ${route}` }, { Allow: route })
  switch (path) {
    case '/_replay/status':
      return send(res, 200, control.status())
    case '/_replay/rate': {
      const rate = parseReplayRate(await readJson(req))
      control.setRate(rate)
      return send(res, 200, { ok: true, rate })
    }
    case '/_replay/pause':
      control.pause()
      return send(res, 200, { ok: true, paused: true })
    case '/_replay/resume':
      control.resume()
      return send(res, 200, { ok: true, paused: false })
    case '/_replay/fault': {
      const body = await readJson(req)
      const injected = control.injectFaults(Array.isArray(body) ? body : [body])
      return send(res, 200, { ok: true, injected })
    }
  }
}

const ROUTES: Record<string, 'GET' | 'POST'> = {
  '/_replay/status': 'GET',
  '/_replay/rate': 'POST',
  '/_replay/pause': 'POST',
  '/_replay/resume': 'POST',
  '/_replay/fault': 'POST',
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new ReplayError(ReplayErrorCode.BodyTooLarge, `request body over ${MAX_BODY_BYTES} bytes`, { limit: MAX_BODY_BYTES })
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ReplayError(ReplayErrorCode.BadOption, `request body is not JSON: ${(err as Error).message}`, {}, { cause: err })
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), ...headers })
  res.end(json)
}
