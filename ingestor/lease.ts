import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisClient } from './redis-connection.js'
import type { Logger } from '../common/logger.js'
import { luaScript, runLuaScript, type LuaScript } from './lua-script.js'
import { redisConfigError } from './redis-connection.js'

/** Takes the lease when free; either way returns the holder's token (ours when acquired). */
const ACQUIRE = luaScript(`if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return ARGV[1] end
return redis.call('GET', KEYS[1])`)

/** Extends the lease only while we hold it; returns the holder's token (false when nobody holds it). */
const RENEW = luaScript(`local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return holder`)

/** Deletes the lease only while we hold it: never another ingestor's. */
const RELEASE = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

export interface LeaseOptions {
  key: string
  ttlMs: number
  /** Called once when a held lease is lost (not on release()): the ingestor must stop writing. */
  onLost?: (reason: string) => void
}

/**
 * Leader election for two or more ingestors on one stream (docs/ingestor.md, "High
 * availability"): a Redis key holding the leader's token with a TTL, renewed every ttl/3.
 *
 * Runs on the sink's connection, which has no offline queue: while Redis is unreachable a
 * renewal fails at once instead of waiting to be sent late. The lease counts as ours until
 * `ttl` after the last successful renewal was *sent* (Redis' expiry is measured from later),
 * so we give it up no later than Redis does; a renewal that finds another holder gives it up at
 * once. Either way onLost is called and the ingestor must stop writing. Fencing does not rest
 * on this clock: a stale leader's write fails the cursor compare-and-set (docs/invariants.md).
 */
export class Lease {
  /** Unique per process and run: host:pid:random. */
  readonly token = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  /** The holder seen by the last acquire or renewal (null: none seen yet, or nobody holds it). */
  holder: string | null = null
  private heldUntilMs: number | null = null
  private renewTimer: NodeJS.Timeout | null = null
  private expiryTimer: NodeJS.Timeout | null = null
  private renewing = false
  private readonly logger: Logger

  constructor(
    private readonly redis: RedisClient,
    private readonly options: LeaseOptions,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'lease', key: options.key, token: this.token })
  }

  get held(): boolean {
    return this.heldUntilMs !== null
  }

  /**
   * Waits as a standby until the lease is ours (polling every ttl/4), then keeps renewing it.
   * False when cancelled first. Configuration errors (ACL, auth) are thrown; outages are waited out.
   */
  async acquire(cancelled: () => boolean): Promise<boolean> {
    while (!cancelled()) {
      const sentAtMs = performance.now()
      try {
        const holder = String(await this.run(ACQUIRE, this.token, this.options.ttlMs))
        if (cancelled()) {
          if (holder === this.token) await this.release()
          return false
        }
        if (holder === this.token) {
          this.holder = holder
          this.extend(sentAtMs)
          this.renewTimer = setInterval(() => void this.renew(), Math.max(1, Math.floor(this.options.ttlMs / 3)))
          this.logger.info({ ttlMs: this.options.ttlMs }, 'lease acquired: this ingestor is the leader')
          return true
        }
        if (holder !== this.holder) this.logger.info({ leader: holder }, `standby: leader is ${holder}`)
        this.holder = holder
      } catch (err) {
        const fatal = redisConfigError(err)
        if (fatal !== null) throw fatal
        // Redis unreachable: the sink logs the outage; keep polling.
      }
      await sleep(Math.max(1, Math.floor(this.options.ttlMs / 4)))
    }
    return false
  }

  /** Graceful end: stops renewing and deletes the lease if it is still ours, so a standby takes over at once. */
  async release(): Promise<void> {
    const wasHeld = this.held
    this.clearTimers()
    this.heldUntilMs = null
    if (!wasHeld) return
    try {
      await this.run(RELEASE, this.token)
      this.logger.info('lease released')
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'could not release the lease; it expires by itself')
    }
  }

  private async renew(): Promise<void> {
    // A renewal still unanswered (frozen Redis) is not stacked on; the expiry timer decides.
    if (this.renewing || !this.held) return
    // Checked first: after a freeze (SIGSTOP, long GC) this tick may run before the expiry timer.
    if (performance.now() >= this.heldUntilMs!) return this.lose('not renewed within the ttl')
    this.renewing = true
    const sentAtMs = performance.now()
    try {
      const holder = (await this.run(RENEW, this.token, this.options.ttlMs)) as string | null // the holder's token, or nil
      if (!this.held) return
      this.holder = holder
      if (holder === this.token) this.extend(sentAtMs)
      else this.lose(holder === null ? 'the lease expired in Redis' : `taken over by ${holder}`)
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message }, msLeft: Math.round(this.heldUntilMs! - performance.now()) }, 'lease renewal failed; retrying')
    } finally {
      this.renewing = false
    }
  }

  private run(script: LuaScript, ...args: (string | number)[]): Promise<unknown> {
    return runLuaScript(this.redis, script, 1, [this.options.key, ...args])
  }

  private extend(sentAtMs: number): void {
    this.heldUntilMs = sentAtMs + this.options.ttlMs
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer)
    this.expiryTimer = setTimeout(() => this.lose('not renewed within the ttl'), Math.max(0, this.heldUntilMs - performance.now()))
  }

  private lose(reason: string): void {
    if (!this.held) return
    this.clearTimers()
    this.heldUntilMs = null
    this.logger.warn({ reason, holder: this.holder }, 'lease lost: this ingestor stops writing')
    this.options.onLost?.(reason)
  }

  private clearTimers(): void {
    if (this.renewTimer !== null) clearInterval(this.renewTimer)
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer)
    this.renewTimer = null
    this.expiryTimer = null
  }
}
