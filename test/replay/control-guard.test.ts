import { request } from 'node:http'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startReplay, type ReplayHandle } from '../../replay/index.js'
import { skipTest } from '../support/skip.js'
import { sequencedFrames, subscribe, tempDir, writeFixture } from './helpers.js'

// Real HTTP requests with the Host and Origin a browser would send: a page on another origin, or
// one reaching the replay through a DNS name rebound to 127.0.0.1.
let dir: Awaited<ReturnType<typeof tempDir>>
let file: string
beforeAll(async () => {
  dir = await tempDir()
  file = join(dir.dir, 'guard.fixture.gz')
  await writeFixture(file, await sequencedFrames(20))
})
afterAll(async () => dir.cleanup())

interface Answer {
  status: number
  body: string
}

/** One request to `address:port` (where the TCP connection goes) with exactly these headers. */
function send(port: number, path: string, headers: Record<string, string>, options: { method?: string; body?: string; address?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: options.address ?? '127.0.0.1', port, path, method: options.method ?? 'GET', headers, setHost: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

const portOf = (replay: ReplayHandle): number => Number(new URL(replay.httpUrl).port)

function expectRefused(answer: Answer, reason: RegExp): void {
  expect(answer.status).toBe(403)
  expect(answer.body.split('\n')).toHaveLength(1)
  const body = JSON.parse(answer.body) as { error: string; message: string }
  expect(body.error).toBe('Forbidden')
  expect(body.message).toMatch(reason)
}

describe('the control API answers only requests naming this server (Host and Origin)', () => {
  let replay: ReplayHandle
  let port: number
  beforeAll(async () => {
    replay = await startReplay({ files: [file], start: 'paused' })
    port = portOf(replay)
  })
  afterAll(async () => replay.close())

  test('its own address, localhost and [::1] (it listens on loopback) are served', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      const answer = await send(port, '/_replay/status', { Host: host })
      expect(answer.status, host).toBe(200)
    }
    expect((await send(port, '/_replay/status', { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` })).status).toBe(200)
    expect((await send(port, '/_replay/status', { Host: `localhost:${port}`, Origin: `http://localhost:${port}` })).status).toBe(200)
  })

  test('a foreign Host (DNS rebinding) is 403 with a one-line JSON reason, and the request does nothing', async () => {
    for (const host of [`rebind.example:${port}`, `127.0.0.1:${port + 1 === 65_536 ? 1 : port + 1}`, '127.0.0.1', `evil@127.0.0.1:${port}`, `127.0.0.1:${port}/x`]) {
      expectRefused(await send(port, '/_replay/status', { Host: host }), /^Host ".*" is not this server \(127\.0\.0\.1:\d+\)/)
    }
    const resume = await send(port, '/_replay/resume', { Host: `rebind.example:${port}`, 'Content-Type': 'text/plain' }, { method: 'POST', body: '{}' })
    expectRefused(resume, /DNS rebinding/)
    expect(replay.status().paused).toBe(true)
  })

  test('a cross-origin text/plain POST (no CORS preflight) is 403 and injects nothing', async () => {
    const client = subscribe(replay.url)
    await client.opened
    try {
      const fault = JSON.stringify({ kind: 'close', code: 4000 })
      for (const origin of ['http://attacker.example', `http://attacker.example:${port}`, 'null', `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1 === 65_536 ? 1 : port + 1}`]) {
        const answer = await send(port, '/_replay/fault', { Host: `127.0.0.1:${port}`, Origin: origin, 'Content-Type': 'text/plain' }, { method: 'POST', body: fault })
        expectRefused(answer, /^Origin ".*" is not this server's \(http:\/\/127\.0\.0\.1:\d+\): cross-origin requests are refused$/)
      }
      expect(replay.status().clients[0]!.faults).toEqual([])
      // The same request from its own origin is served: the guard, not the body, refused the others.
      const own = await send(port, '/_replay/fault', { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}`, 'Content-Type': 'text/plain' }, { method: 'POST', body: fault })
      expect(own).toMatchObject({ status: 200 })
      await client.closed
      expect(client.closeCode).toBe(4000)
    } finally {
      await client.close()
    }
  })
})

describe('listening on every interface', () => {
  const external = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((iface) => iface.family === 'IPv4' && !iface.internal)?.address

  test('its own interface addresses and the loopback names are served; other names are not', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', host: '0.0.0.0' })
    const port = portOf(replay)
    try {
      for (const host of [`0.0.0.0:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, ...(external === undefined ? [] : [`${external}:${port}`])]) {
        expect((await send(port, '/_replay/status', { Host: host })).status, host).toBe(200)
      }
      expectRefused(await send(port, '/_replay/status', { Host: `replay.example:${port}` }), /is not this server \(0\.0\.0\.0:\d+\)/)
    } finally {
      await replay.close()
    }
  })

  test('on one non-loopback address, localhost is not its name', async (context) => {
    if (external === undefined) skipTest(context, 'no non-loopback IPv4 address on this machine')
    const replay = await startReplay({ files: [file], start: 'paused', host: external })
    const port = portOf(replay)
    try {
      expect((await send(port, '/_replay/status', { Host: `${external}:${port}` }, { address: external })).status).toBe(200)
      expectRefused(await send(port, '/_replay/status', { Host: `localhost:${port}` }, { address: external }), /is not this server/)
    } finally {
      await replay.close()
    }
  })
})
