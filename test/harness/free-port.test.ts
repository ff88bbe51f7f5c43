import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { freePort, probedPortRange } from '../../harness/free-port.js'

describe('freePort: ports below the ephemeral range, so a port a killed server left is not handed to listen(0) or to a client dialling it', () => {
  it('probes below the kernel ephemeral range, never under 1024', () => {
    expect(probedPortRange({ low: 32_768, high: 60_999 })).toEqual({ low: 20_767, high: 32_767 })
    expect(probedPortRange({ low: 49_152, high: 65_535 })).toEqual({ low: 20_767, high: 32_767 })
    expect(probedPortRange({ low: 10_000, high: 60_999 })).toEqual({ low: 1024, high: 9_999 })
  })

  it('returns ports in that range that can be bound', async () => {
    const { low, high } = probedPortRange()
    for (let i = 0; i < 20; i++) {
      const port = await freePort()
      expect(port).toBeGreaterThanOrEqual(low)
      expect(port).toBeLessThanOrEqual(high)
      const server = createServer()
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', resolve)
      })
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
