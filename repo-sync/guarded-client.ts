import type { Timers } from '../common/timers.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import type { FetchLimiter } from './fetch-limits.js'
import type { HostGuard } from './host-guard.js'
import { httpGet, type HttpAnswer } from './http-get.js'
import { budgetSpent, rateLimitResetMs } from './rate-limit-headers.js'

export interface GuardedRequest {
  /** What to ask for (the Accept header). */
  accept: string
  /** A URL from our configuration (the PLC directory, --resync-from): its address is not checked. */
  trusted: boolean
  /** Deadline of the whole exchange. */
  timeoutMs: number
  signal?: AbortSignal
}

/**
 * Every repo-sync GET goes through here: a slot from the limiter (global, per host, the host's
 * 429 pause), then the SSRF guard (resolve once, check, pin the address), then the request.
 * A 429 pauses its host (RateLimit-Reset, Retry-After, else the default pause) and throws
 * REPO_SYNC_RATE_LIMITED; a successful answer with `RateLimit-Remaining: 0` pauses the host until
 * its reset, so the next request does not earn the 429. The caller must close() the answer: that
 * releases the slot.
 */
export class GuardedClient {
  constructor(
    private readonly guard: HostGuard,
    private readonly limiter: FetchLimiter,
    private readonly timers: Timers,
    private readonly options: { idleTimeoutMs: number; userAgent: string },
  ) {}

  async get(url: URL, request: GuardedRequest): Promise<HttpAnswer> {
    const slot = await this.limiter.acquire(url.host, request.signal)
    let answer: HttpAnswer
    try {
      const pinned = await this.guard.pin(url, request.trusted)
      answer = await httpGet(url, pinned, {
        headers: { accept: request.accept, 'user-agent': this.options.userAgent },
        timeoutMs: request.timeoutMs,
        idleTimeoutMs: this.options.idleTimeoutMs,
        timers: this.timers,
        signal: request.signal,
      })
    } catch (err) {
      slot.release()
      throw err
    }
    const close = (): void => {
      answer.close()
      slot.release()
    }
    if (answer.status === 429) {
      close()
      const retryAtMs = this.limiter.pauseHost(url.host, rateLimitResetMs(answer.headers, this.timers.now()))
      throw new RepoSyncError(RepoSyncErrorCode.RateLimited, `${url.host} answered 429: paused until ${new Date(retryAtMs).toISOString()}`, { url: url.href, host: url.host, status: 429, retryAtMs })
    }
    if (budgetSpent(answer.headers)) this.limiter.pauseHost(url.host, rateLimitResetMs(answer.headers, this.timers.now()))
    return { ...answer, close }
  }
}
