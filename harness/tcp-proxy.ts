import { connect, createServer, type Server, type Socket } from 'node:net'
import { systemTimers, type TimerHandle, type Timers } from '../common/timers.js'

/**
 * A toxiproxy-like TCP proxy (toxiproxy itself cannot be installed here) to put between the
 * ingestor and Redis or the relay: added latency, a bandwidth limit, stalls (connections stay
 * open, nothing is forwarded), cutting every connection, refusing new ones.
 *
 * Buffers: each direction holds at most `maxBufferedBytes`; beyond that the reading side is
 * paused, so a stall or a slow link becomes TCP backpressure on the sender, never unbounded
 * memory and never dropped bytes.
 */
export interface TcpProxyOptions {
  upstream: { host: string; port: number }
  /** Listen address (default 127.0.0.1, port 0). */
  host?: string
  port?: number
  /** Per direction per connection (default 1 MiB). */
  maxBufferedBytes?: number
  /** The clock and timers latency and bandwidth run on (default the process' own); tests pass a fake to move time by hand. */
  timers?: Timers
}

export interface TcpProxyStats {
  /** Connections accepted since start (refused ones not counted). */
  accepted: number
  open: number
  refused: number
  /** Bytes forwarded client -> upstream and upstream -> client. */
  bytesUp: number
  bytesDown: number
  /** Bytes held in the proxy's queues right now (bounded by maxBufferedBytes per direction per connection, plus one chunk). */
  buffered: number
}

const DEFAULT_MAX_BUFFERED = 1024 * 1024

export class TcpProxy {
  readonly host: string
  private upstream: { host: string; port: number }
  private readonly maxBuffered: number
  private readonly timers: Timers
  private readonly links = new Set<Link>()
  private latencyMs = 0
  private bytesPerSec: number | null = null
  private stalled = false
  private refusing = false
  private readonly counters = { accepted: 0, refused: 0, bytesUp: 0, bytesDown: 0 }

  private constructor(
    private readonly server: Server,
    options: TcpProxyOptions,
  ) {
    this.host = options.host ?? '127.0.0.1'
    this.upstream = { ...options.upstream }
    this.maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED
    this.timers = options.timers ?? systemTimers
    server.on('connection', (client) => this.accept(client))
  }

  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const server = createServer({ noDelay: true })
    const proxy = new TcpProxy(server, options)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, proxy.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return proxy
  }

  get port(): number {
    const address = this.server.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  }

  /** `url` with its host and port replaced by the proxy's (credentials and path kept). */
  proxiedUrl(url: string): string {
    const parsed = new URL(url)
    parsed.hostname = this.host
    parsed.port = String(this.port)
    return parsed.toString()
  }

  get stats(): TcpProxyStats {
    let buffered = 0
    for (const link of this.links) buffered += link.buffered
    return { ...this.counters, open: this.links.size, buffered }
  }

  /** Delay added to every chunk, each direction. */
  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms)
  }

  /** Bytes per second per direction per connection; null for unlimited. */
  setBandwidth(bytesPerSec: number | null): void {
    this.bytesPerSec = bytesPerSec === null ? null : Math.max(1, bytesPerSec)
    for (const link of this.links) link.resetBucket()
  }

  /** Stop forwarding in both directions; connections stay open and buffers fill up to their bound. */
  stall(): void {
    this.stalled = true
  }

  /** Forward again after stall(). */
  unstall(): void {
    this.stalled = false
    for (const link of this.links) link.pump()
  }

  /** Destroys every open connection (both sides see a reset/close). New ones are still accepted. */
  cut(): void {
    for (const link of this.links) link.destroy()
  }

  /** Refuse new connections (accepted and closed at once) and cut the open ones. */
  disable(): void {
    this.refusing = true
    this.cut()
  }

  enable(): void {
    this.refusing = false
  }

  /** Points new connections at another upstream (e.g. Redis restarted on a new port). */
  setUpstream(upstream: { host: string; port: number }): void {
    this.upstream = { ...upstream }
  }

  /** Clears latency, bandwidth and stall, and accepts connections again. */
  reset(): void {
    this.setLatency(0)
    this.setBandwidth(null)
    this.enable()
    this.unstall()
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      this.counters.refused++
      client.resetAndDestroy()
      return
    }
    this.counters.accepted++
    const upstream = connect({ ...this.upstream, noDelay: true })
    const link = new Link(client, upstream, this, this.timers)
    this.links.add(link)
    link.onClose(() => this.links.delete(link))
  }

  /** @internal read by Link */
  get settings(): { latencyMs: number; bytesPerSec: number | null; stalled: boolean; maxBuffered: number } {
    return { latencyMs: this.latencyMs, bytesPerSec: this.bytesPerSec, stalled: this.stalled, maxBuffered: this.maxBuffered }
  }

  /** @internal */
  count(direction: 'up' | 'down', bytes: number): void {
    if (direction === 'up') this.counters.bytesUp += bytes
    else this.counters.bytesDown += bytes
  }
}

/** One proxied connection: two Pipes, torn down together. */
class Link {
  private readonly pipes: [Pipe, Pipe]
  private closed = false
  private readonly closeListeners: (() => void)[] = []

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    proxy: TcpProxy,
    timers: Timers,
  ) {
    this.pipes = [new Pipe(client, upstream, proxy, timers, 'up'), new Pipe(upstream, client, proxy, timers, 'down')]
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.destroy())
      socket.on('close', () => this.destroy())
    }
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener)
  }

  get buffered(): number {
    return this.pipes[0].buffered + this.pipes[1].buffered
  }

  pump(): void {
    for (const pipe of this.pipes) pipe.pump()
  }

  resetBucket(): void {
    for (const pipe of this.pipes) pipe.resetBucket()
  }

  destroy(): void {
    if (this.closed) return
    this.closed = true
    for (const pipe of this.pipes) pipe.dispose()
    this.client.destroy()
    this.upstream.destroy()
    for (const listener of this.closeListeners) listener()
  }
}

interface Queued {
  chunk: Buffer
  releaseAt: number
}

/**
 * One direction of a connection: queue with release times (latency), a token bucket
 * (bandwidth), pausing the source when the queue holds maxBuffered bytes.
 */
class Pipe {
  private readonly queue: Queued[] = []
  private queuedBytes = 0
  private lastReleaseAt = 0
  private tokens = 0
  private tokensAt: number
  private timer: TimerHandle | null = null
  private waitingForDrain = false
  private sourceEnded = false

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly proxy: TcpProxy,
    private readonly timers: Timers,
    private readonly direction: 'up' | 'down',
  ) {
    this.tokensAt = timers.now()
    source.on('data', (chunk: Buffer) => this.enqueue(chunk))
    source.on('end', () => {
      this.sourceEnded = true
      this.pump()
    })
    dest.on('drain', () => {
      this.waitingForDrain = false
      this.pump()
    })
  }

  get buffered(): number {
    return this.queuedBytes
  }

  resetBucket(): void {
    this.tokens = 0
    this.tokensAt = this.timers.now()
  }

  dispose(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer)
    this.timer = null
    this.queue.length = 0
    this.queuedBytes = 0
  }

  private enqueue(chunk: Buffer): void {
    const now = this.timers.now()
    // Never earlier than the chunk before it: lowering the latency must not reorder bytes.
    this.lastReleaseAt = Math.max(this.lastReleaseAt, now + this.proxy.settings.latencyMs)
    this.queue.push({ chunk, releaseAt: this.lastReleaseAt })
    this.queuedBytes += chunk.length
    if (this.queuedBytes >= this.proxy.settings.maxBuffered) this.source.pause()
    this.pump()
  }

  pump(): void {
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer)
      this.timer = null
    }
    const { stalled, bytesPerSec, maxBuffered } = this.proxy.settings
    while (!stalled && !this.waitingForDrain && !this.dest.destroyed) {
      const head = this.queue[0]
      if (head === undefined) break
      const now = this.timers.now()
      if (head.releaseAt > now) {
        this.schedule(head.releaseAt - now)
        return
      }
      let chunk = head.chunk
      if (bytesPerSec !== null) {
        this.tokens = Math.min(bytesPerSec, this.tokens + ((now - this.tokensAt) * bytesPerSec) / 1000)
        this.tokensAt = now
        const allowed = Math.floor(this.tokens)
        if (allowed < 1) {
          this.schedule(Math.ceil(1000 / bytesPerSec))
          return
        }
        if (chunk.length > allowed) {
          head.chunk = chunk.subarray(allowed)
          chunk = chunk.subarray(0, allowed)
        } else {
          this.queue.shift()
        }
        this.tokens -= chunk.length
      } else {
        this.queue.shift()
      }
      this.queuedBytes -= chunk.length
      this.proxy.count(this.direction, chunk.length)
      if (!this.dest.write(chunk)) this.waitingForDrain = true
    }
    if (this.queuedBytes < maxBuffered && this.source.isPaused() && !stalled) this.source.resume()
    if (this.queue.length === 0 && this.sourceEnded && !this.dest.destroyed) this.dest.end()
  }

  private schedule(ms: number): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = null
      this.pump()
    }, ms)
  }
}
