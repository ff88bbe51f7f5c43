import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WebSocket } from 'ws'
import { DEFAULT_MAX_CLIENTS, ReplayError, startReplay } from '../../replay/index.js'
import { sequencedFrames, subscribe, tempDir, until, writeFixture, type Received } from './helpers.js'

let dir: Awaited<ReturnType<typeof tempDir>>
let file: string
beforeAll(async () => {
  dir = await tempDir()
  file = join(dir.dir, 'max-clients.fixture.gz')
  await writeFixture(file, await sequencedFrames(50))
})
afterAll(async () => dir.cleanup())

/** A WebSocket handshake that the server refuses: its HTTP status and JSON body. */
function refusedHandshake(url: string): Promise<{ status: number; body: { error: string; message: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => {
      ws.terminate()
      reject(new Error('the handshake was accepted'))
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error: string; message: string } }))
    })
    ws.on('error', () => {}) // ws reports the refusal as an error too, after unexpected-response
  })
}

describe('--max-clients: connected clients are capped', () => {
  test('an upgrade beyond the cap gets 503 with a reason and is counted; a freed slot is taken again', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', maxClients: 2 })
    const clients: Received[] = []
    try {
      clients.push(subscribe(replay.url), subscribe(replay.url))
      await Promise.all(clients.map((client) => client.opened))
      expect(replay.status()).toMatchObject({ maxClients: 2, clientsRefused: 0 })

      for (let i = 1; i <= 3; i++) {
        const refused = await refusedHandshake(replay.url)
        expect(refused.status).toBe(503)
        expect(refused.body).toEqual({ error: 'TooManyClients', message: 'replay serves at most 2 clients at once (--max-clients); try again when one leaves' })
        expect(replay.status().clientsRefused).toBe(i)
      }
      expect(replay.status().clients.filter((client) => client.connected)).toHaveLength(2)

      await clients.shift()!.close()
      await until(replay, (status) => status.clients.filter((client) => client.connected).length === 1)
      const next = subscribe(replay.url)
      clients.push(next)
      await next.opened
      expect(replay.status()).toMatchObject({ clientsRefused: 3 })
      expect(replay.status().clients.filter((client) => client.connected)).toHaveLength(2)
    } finally {
      await Promise.all(clients.map((client) => client.close()))
      await replay.close()
    }
  })

  test('a capped upgrade does not use up a refuse-handshake fault: the next admitted one gets it', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', maxClients: 1 })
    const first = subscribe(replay.url)
    try {
      await first.opened
      replay.injectFault({ kind: 'refuse-handshake', status: 429, count: 1 })
      expect((await refusedHandshake(replay.url)).status).toBe(503)
      await first.close()
      await until(replay, (status) => status.clients.every((client) => !client.connected))
      const faulted = await refusedHandshake(replay.url)
      expect(faulted.status).toBe(429)
      expect(replay.status()).toMatchObject({ clientsRefused: 1, handshakesRefused: [{ status: 429 }] })
    } finally {
      await first.close()
      await replay.close()
    }
  })

  test(`defaults to ${DEFAULT_MAX_CLIENTS}; a cap below 1 is refused`, async () => {
    const replay = await startReplay({ files: [file], start: 'paused' })
    try {
      expect(replay.status()).toMatchObject({ maxClients: 256, clientsRefused: 0 })
    } finally {
      await replay.close()
    }
    await expect(startReplay({ files: [file], maxClients: 0 })).rejects.toThrow(ReplayError)
  })
})
