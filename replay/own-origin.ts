import type { IncomingMessage } from 'node:http'
import { isIP, type AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'

/**
 * Which `Host` and `Origin` a control request may carry: this server's own address. A web page
 * must reach the control API neither through a DNS name rebound to this address (its `Host` is
 * that name) nor by a cross-origin "simple" request, such as a `text/plain` POST that needs no
 * CORS preflight (its `Origin` is the page's). Own means the address the server listens on, the
 * name given as its host, and, when that is loopback or every interface, `localhost`,
 * `127.0.0.1` and `[::1]` (every interface: this host's interface addresses too), each with the
 * server's port.
 */
export class OwnOrigin {
  constructor(
    private readonly address: AddressInfo,
    /** The host the server was asked to listen on (a name such as `localhost` is kept as given). */
    private readonly configuredHost: string,
  ) {}

  /** Why `req` is refused (one line), or null when its Host and any Origin name this server. */
  refusal(req: IncomingMessage): string | null {
    const own = this.hosts()
    const self = hostPort(this.address.address, this.address.port)
    const { host, origin } = req.headers
    if (host === undefined) return `no Host header; this server is ${self}`
    if (!own.has(normalizedHost(host) ?? '')) return `Host ${JSON.stringify(host)} is not this server (${self}): refused against DNS rebinding`
    if (origin !== undefined && !own.has(originHost(origin) ?? '')) return `Origin ${JSON.stringify(origin)} is not this server's (http://${self}): cross-origin requests are refused`
    return null
  }

  /** `host[:port]` as URL.host writes it (lower case, IPv6 in brackets, no port when it is 80). */
  private hosts(): Set<string> {
    const { address, port } = this.address
    const names = [address]
    if (isIP(this.configuredHost) === 0) names.push(this.configuredHost)
    const everyInterface = address === '0.0.0.0' || address === '::'
    if (everyInterface || isLoopback(address)) names.push('localhost', '127.0.0.1', '::1')
    // Looked up per request: interfaces come and go, and control requests are few.
    if (everyInterface) names.push(...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((iface) => iface.address)))
    return new Set(names.map((name) => hostPort(name, port)))
  }
}

function hostPort(name: string, port: number): string {
  return normalizedHost(`${isIP(name) === 6 ? `[${name}]` : name}:${port}`) ?? `${name}:${port}`
}

/** A Host header value as URL.host writes it; null when it is not a bare host[:port]. */
function normalizedHost(value: string): string | null {
  try {
    const url = new URL(`http://${value}`)
    return url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '' ? url.host : null
  } catch {
    return null
  }
}

/** The host[:port] of an http: Origin (`null` and other schemes have none). */
function originHost(value: string): string | null {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' ? url.host : null
  } catch {
    return null
  }
}

function isLoopback(address: string): boolean {
  return /^(127\.|::ffff:127\.)/.test(address) || address === '::1'
}
