import { randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

const PROBES = 64
/** probedPortRange() of this machine, read on the first freePort (the kernel setting does not change under us). */
let probed: { readonly low: number; readonly high: number } | undefined

/**
 * The ports probed: below the kernel's ephemeral range, which `listen(0)` and the source ports
 * of outgoing connections come from. A server killed for an outage test keeps its port free
 * for its restart: no other test's `listen(0)` can be handed it, and a client retrying the dead
 * port cannot connect to itself (a source port equal to the port it dials, TCP simultaneous
 * open). Either would leave the restart on a taken port and its clients dialling someone else
 * (the suspected cause of one outage test's stall on a loaded CI machine).
 */
export function probedPortRange(ephemeralRange = readEphemeralRange()): { readonly low: number; readonly high: number } {
  const high = Math.min(32_767, ephemeralRange.low - 1)
  return { low: Math.max(1024, high - 12_000), high }
}

/** Linux's `ip_local_port_range`; elsewhere IANA's 49152-65535 (macOS, Windows). */
function readEphemeralRange(): { readonly low: number; readonly high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (Number.isInteger(low) && Number.isInteger(high)) return { low: low!, high: high! }
  } catch {
    // Not Linux: the IANA range below.
  }
  return { low: 49_152, high: 65_535 }
}

/**
 * A TCP port that was free a moment ago, for servers that cannot listen on port 0 and report
 * back (redis-server treats --port 0 as "no TCP"): random ports of `probedPortRange()` bound
 * and released, and only if all of them are taken one the kernel picks. Callers retry on
 * EADDRINUSE.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  probed ??= probedPortRange()
  const { low, high } = probed
  for (let probe = 0; probe < PROBES && low < high; probe++) {
    const port = await bindAndRelease(host, randomInt(low, high + 1))
    if (port !== null) return port
  }
  return (await bindAndRelease(host, 0))!
}

/** The port bound (the kernel's pick for 0), or null when it is taken or not ours to bind. */
function bindAndRelease(host: string, port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => (port !== 0 && (err.code === 'EADDRINUSE' || err.code === 'EACCES') ? resolve(null) : reject(err)))
    server.listen(port, host, () => {
      const address = server.address()
      const bound = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(bound))
    })
  })
}
