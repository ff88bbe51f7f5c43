import * as http from 'node:http'
import * as https from 'node:https'
import type { Timers, TimerHandle } from '../common/timers.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import type { PinnedHost } from './host-guard.js'

export interface HttpGetOptions {
  headers: Record<string, string>
  /** Deadline of the whole exchange, connection to the last body byte. */
  timeoutMs: number
  /** Longest wait for the answer's headers or for the next body bytes. */
  idleTimeoutMs: number
  timers: Timers
  signal?: AbortSignal
}

/** An answer whose body is still unread. */
export interface HttpAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  /**
   * The body's chunks, read as they arrive (the socket is paused while the reader works). Throws
   * RepoSyncError TIMEOUT, TRUNCATED (the connection closed before the body's end), ABORTED.
   */
  body: AsyncIterable<Uint8Array>
  /** Ends the exchange (destroys the socket if the body was not read to its end); idempotent. */
  close(): void
}

/**
 * One GET over node:http(s) to the address the guard checked (`pinned.lookup`): no agent, so no
 * socket is shared, no redirects followed (a 3xx is an answer like any other). The timeouts run
 * on the injected timers. Throws RepoSyncError UNREACHABLE, TIMEOUT or ABORTED before an answer.
 */
export function httpGet(url: URL, pinned: PinnedHost, options: HttpGetOptions): Promise<HttpAnswer> {
  const { timers, signal } = options
  const fields = { url: url.href, host: url.host }
  let failure: RepoSyncError | null = null
  let request: http.ClientRequest | null = null
  let response: http.IncomingMessage | null = null
  let idleTimer: TimerHandle | null = null
  let totalTimer: TimerHandle | null = null

  const stopTimers = (): void => {
    if (idleTimer !== null) timers.clearTimeout(idleTimer)
    if (totalTimer !== null) timers.clearTimeout(totalTimer)
    idleTimer = totalTimer = null
    signal?.removeEventListener('abort', onAbort)
  }
  const fail = (err: RepoSyncError): void => {
    if (failure !== null) return
    failure = err
    stopTimers()
    if (response !== null) response.destroy(err)
    request?.destroy(err)
  }
  const armIdle = (): void => {
    if (idleTimer !== null) timers.clearTimeout(idleTimer)
    idleTimer = timers.setTimeout(
      () => fail(new RepoSyncError(RepoSyncErrorCode.Timeout, `${url.host} sent nothing for ${options.idleTimeoutMs} ms`, { ...fields, timeoutMs: options.idleTimeoutMs, phase: 'idle' })),
      options.idleTimeoutMs,
    )
  }
  function onAbort(): void {
    fail(new RepoSyncError(RepoSyncErrorCode.Aborted, `fetch from ${url.host} aborted`, fields))
  }

  return new Promise<HttpAnswer>((resolve, reject) => {
    if (signal?.aborted === true) return reject(new RepoSyncError(RepoSyncErrorCode.Aborted, `fetch from ${url.host} aborted`, fields))
    signal?.addEventListener('abort', onAbort, { once: true })
    totalTimer = timers.setTimeout(
      () => fail(new RepoSyncError(RepoSyncErrorCode.Timeout, `${url.host} did not finish within ${options.timeoutMs} ms`, { ...fields, timeoutMs: options.timeoutMs, phase: 'total' })),
      options.timeoutMs,
    )
    armIdle()
    const client = url.protocol === 'https:' ? https : http
    request = client.request(url, { method: 'GET', headers: options.headers, lookup: pinned.lookup, agent: false })
    request.on('error', (err) => {
      stopTimers()
      reject(failure ?? new RepoSyncError(RepoSyncErrorCode.Unreachable, `${url.host}: ${err.message}`, fields, { cause: err }))
    })
    request.on('response', (res) => {
      response = res
      armIdle()
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: readBody(res, armIdle, () => failure, stopTimers, fields),
        close: () => {
          stopTimers()
          if (!res.complete) res.destroy()
        },
      })
    })
    request.end()
  })
}

async function* readBody(res: http.IncomingMessage, onBytes: () => void, failure: () => RepoSyncError | null, done: () => void, fields: Record<string, string>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      onBytes()
      yield chunk
    }
    // A body cut short of its Content-Length ends with an error above, not here.
  } catch (err) {
    throw failure() ?? new RepoSyncError(RepoSyncErrorCode.Truncated, `${fields.host} closed the connection before the end of the body: ${(err as Error).message}`, fields, { cause: err })
  } finally {
    done()
  }
}

/** The whole body if it is at most `maxBytes`, else null (reading stops at the first byte over). */
export async function readCapped(answer: HttpAnswer, maxBytes: number): Promise<Buffer | null> {
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of answer.body) {
    total += chunk.byteLength
    if (total > maxBytes) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
