import { HarnessError } from '../errors.js'
import { freePort } from '../free-port.js'

const ATTEMPTS = 5

/**
 * Starts a server on `current` or, on its first start (`current` 0) or when asked for a new
 * port, on a free one, and returns the port it runs on. A "free" port can be taken between the
 * probe and the bind: a chosen port is chosen again, up to 5 times. A restart keeps its port
 * (types.ts: clients hold the URL), so a port taken while the server was down fails it.
 */
export async function launchOnPort(host: string, current: number, newPort: boolean, start: (port: number) => Promise<void>): Promise<number> {
  const choosesPort = newPort || current === 0
  for (let attempt = 1; ; attempt++) {
    const port = choosesPort ? await freePort(host) : current
    try {
      await start(port)
      return port
    } catch (err) {
      const inUse = err instanceof HarnessError && String(err.fields.reason).includes('Address already in use')
      if (!inUse || !choosesPort || attempt >= ATTEMPTS) throw err
    }
  }
}
