import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP, type LookupFunction } from 'node:net'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'

/**
 * The SSRF guard of repo-sync's HTTP requests: a DID document can name any host as its PDS, so
 * before a request the host is resolved once, every address it resolves to must be public, and
 * the request connects to the address that was checked (HostGuard.pin: a `lookup` that answers
 * that address, so a second DNS answer cannot swap in a private one: no rebinding window).
 * Refused: schemes other than http and https, and the address ranges of FORBIDDEN_V4 /
 * FORBIDDEN_V6 (private, loopback, link-local, unique-local, multicast, CGNAT, unspecified,
 * reserved), IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4) judged as the IPv4 it carries.
 */
export interface HostGuardOptions {
  /** Allow every address (tests, a PDS on a private network): `--allow-private-hosts`. Schemes are still checked. */
  allowPrivateHosts?: boolean
  /** Resolves a host name to all its addresses (default: the system resolver, node:dns lookup). */
  resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>
}

/** A host resolved and checked: connect to `address`, speak to `hostname` (Host header, TLS SNI). */
export interface PinnedHost {
  hostname: string
  address: string
  family: 4 | 6
  /** A `lookup` for node:http(s) that answers the checked address and nothing else. */
  lookup: LookupFunction
}

export class HostGuard {
  readonly allowPrivateHosts: boolean
  private readonly resolve: (hostname: string) => Promise<{ address: string; family: number }[]>

  constructor(options: HostGuardOptions = {}) {
    this.allowPrivateHosts = options.allowPrivateHosts ?? false
    this.resolve = options.resolve ?? ((hostname) => dnsLookup(hostname, { all: true, verbatim: true }))
  }

  /**
   * Checks the URL's scheme, resolves its host (an IP literal as itself) and checks every address;
   * `trusted` (URLs from our configuration: the PLC directory, --resync-from) skips the address
   * check. Throws RepoSyncError BAD_URL, PRIVATE_HOST, or UNREACHABLE when the name does not resolve.
   */
  async pin(url: URL, trusted = false): Promise<PinnedHost> {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RepoSyncError(RepoSyncErrorCode.BadUrl, `refusing ${url.protocol} URL ${url.origin}: http and https only`, { url: url.href })
    }
    // URL keeps the brackets of an IPv6 literal: [::1].
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    let addresses: { address: string; family: number }[]
    if (isIP(hostname) !== 0) addresses = [{ address: hostname, family: isIP(hostname) }]
    else {
      try {
        addresses = await this.resolve(hostname)
      } catch (err) {
        throw new RepoSyncError(RepoSyncErrorCode.Unreachable, `cannot resolve ${hostname}: ${(err as Error).message}`, { host: url.host, url: url.href }, { cause: err })
      }
      if (addresses.length === 0) throw new RepoSyncError(RepoSyncErrorCode.Unreachable, `${hostname} resolves to no address`, { host: url.host, url: url.href })
    }
    if (!trusted && !this.allowPrivateHosts) {
      for (const { address } of addresses) {
        const range = forbiddenRange(address)
        if (range !== null) {
          throw new RepoSyncError(RepoSyncErrorCode.PrivateHost, `refusing ${url.host}: it resolves to ${address} (${range}); --allow-private-hosts allows it`, { host: url.host, url: url.href, address, range })
        }
      }
    }
    // IPv4 first when the name has both: without Happy Eyeballs over one pinned address, it is the one most hosts reach.
    const { address, family } = addresses.find((a) => a.family === 4) ?? addresses[0]!
    const pinnedFamily = family === 6 ? 6 : 4
    const lookup: LookupFunction = (_host, options, callback) => {
      // Node asks for all addresses when it races IPv4 and IPv6 (autoSelectFamily): answer the one.
      if ((options as { all?: boolean }).all === true) (callback as (err: null, addresses: { address: string; family: number }[]) => void)(null, [{ address, family: pinnedFamily }])
      else callback(null, address, pinnedFamily)
    }
    return { hostname, address, family: pinnedFamily, lookup }
  }
}

/** IPv4 ranges a PDS may not be in, [network, prefix length, name]. */
const FORBIDDEN_V4: readonly (readonly [string, number, string])[] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'CGNAT shared address space'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved and broadcast'],
]

/** IPv6 ranges a PDS may not be in, [network, prefix length, name] (those carrying an IPv4 address are judged by it instead). */
const FORBIDDEN_V6: readonly (readonly [string, number, string])[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['fc00::', 7, 'unique-local'],
  ['ff00::', 8, 'multicast'],
  ['100::', 64, 'discard-only'],
]

/** IPv6 prefixes that carry an IPv4 address: [network, prefix length, the hextet the IPv4 address starts at]. */
const EMBEDS_V4: readonly (readonly [string, number, number])[] = [
  ['::ffff:0:0', 96, 6], // IPv4-mapped
  ['::', 96, 6], // IPv4-compatible (deprecated)
  ['64:ff9b::', 96, 6], // NAT64
  ['2002::', 16, 1], // 6to4
]

/** The name of the forbidden range `address` (an IPv4 or IPv6 literal) is in, or null when it is public. Anything unparsable is forbidden. */
export function forbiddenRange(address: string): string | null {
  const version = isIP(address)
  if (version === 4) return rangeOf(parseV4(address), FORBIDDEN_V4_PARSED, 32)
  if (version !== 6) return 'not an IP address'
  const hextets = parseV6(address)
  // First: :: and ::1 are IPv4-compatible in form only; they are IPv6's unspecified and loopback.
  const range = rangeOf(hextets, FORBIDDEN_V6_PARSED, 128)
  if (range !== null) return range
  for (const [network, prefix, at] of EMBEDS_V6_PARSED) {
    if (!inPrefix(hextets, network, prefix, 16)) continue
    const embedded = rangeOf([hextets[at]! >> 8, hextets[at]! & 0xff, hextets[at + 1]! >> 8, hextets[at + 1]! & 0xff], FORBIDDEN_V4_PARSED, 32)
    return embedded === null ? null : `${embedded}, as IPv4 inside IPv6`
  }
  return null
}

const FORBIDDEN_V4_PARSED = FORBIDDEN_V4.map(([network, prefix, name]) => [parseV4(network), prefix, name] as const)
const FORBIDDEN_V6_PARSED = FORBIDDEN_V6.map(([network, prefix, name]) => [parseV6(network), prefix, name] as const)
const EMBEDS_V6_PARSED = EMBEDS_V4.map(([network, prefix, at]) => [parseV6(network), prefix, at] as const)

function rangeOf(parts: number[], ranges: readonly (readonly [number[], number, string])[], bits: 32 | 128): string | null {
  const width = bits === 32 ? 8 : 16
  for (const [network, prefix, name] of ranges) if (inPrefix(parts, network, prefix, width)) return name
  return null
}

/** Whether the first `prefix` bits of `parts` (each `width` bits wide) equal those of `network`. */
function inPrefix(parts: number[], network: number[], prefix: number, width: number): boolean {
  for (let i = 0, left = prefix; left > 0; i++, left -= width) {
    const bits = Math.min(width, left)
    const shift = width - bits
    if (parts[i]! >> shift !== network[i]! >> shift) return false
  }
  return true
}

function parseV4(address: string): number[] {
  return address.split('.').map(Number)
}

/** The eight hextets of an IPv6 literal that isIP accepted (`::` compression, a dotted IPv4 tail, a %zone). */
function parseV6(address: string): number[] {
  let text = address.split('%')[0]!.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = parseV4(dotted[1]!)
    text = `${text.slice(0, dotted.index)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((h) => parseInt(h, 16))
}
