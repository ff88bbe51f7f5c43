import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { cliEntryPoint } from '../../harness/ingestor-process.js'
import { seqOf, sequencedFrames, subscribe, tempDir, writeFixture } from './helpers.js'

// Runs the built CLI (npm test builds first), as a user would.
let dir: Awaited<ReturnType<typeof tempDir>>
let file: string
beforeAll(async () => {
  dir = await tempDir()
  file = join(dir.dir, 'cli.fixture.gz')
  await writeFixture(file, await sequencedFrames(50))
})
afterAll(async () => dir.cleanup())

interface Run {
  url: Promise<string>
  exit: Promise<{ code: number | null; stderr: string }>
  kill(signal: NodeJS.Signals): void
}

function replayCli(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [cliEntryPoint(), 'replay', ...args], {
    env: { PATH: process.env.PATH ?? '', FIREHOSE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })))
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve)
    void exit.then(({ code, stderr }) => reject(new Error(`exited ${code} before printing the URL: ${stderr}`)))
  })
  url.catch(() => {})
  return { url, exit, kill: (signal) => child.kill(signal) }
}

describe('firehose replay CLI', () => {
  test('prints the URL, serves the fixture, takes options from FIREHOSE_REPLAY_* env, exits 0 on SIGTERM', async () => {
    const run = replayCli([file, '--start', 'first-client', '--fault', 'swallow:atFrame=10,count=2'], { FIREHOSE_REPLAY_RATE: '2000', FIREHOSE_REPLAY_SEED: '9' })
    const url = await run.url
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/xrpc\/com\.atproto\.sync\.subscribeRepos$/)
    const client = subscribe(url)
    await client.waitFor(48)
    expect(client.frames.map(seqOf)).toEqual([...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: 38 }, (_, i) => i + 13)])
    const status = (await (await fetch(url.replace('ws://', 'http://').replace(/\/xrpc\/.*$/, '/_replay/status'))).json()) as Record<string, unknown>
    expect(status).toMatchObject({ rate: { mode: 'rate', eventsPerSec: 2000 }, seed: 9 })
    await client.close()
    run.kill('SIGTERM')
    expect((await run.exit).code).toBe(0)
  })

  test('--max-clients (here from FIREHOSE_REPLAY_MAX_CLIENTS): a subscription beyond gets HTTP 503, counted in status', async () => {
    const run = replayCli([file, '--start', 'paused'], { FIREHOSE_REPLAY_MAX_CLIENTS: '1' })
    const url = await run.url
    const first = subscribe(url)
    await first.opened
    const second = subscribe(url)
    await expect(second.opened).rejects.toThrow(/Unexpected server response: 503/)
    const status = (await (await fetch(url.replace('ws://', 'http://').replace(/\/xrpc\/.*$/, '/_replay/status'))).json()) as Record<string, unknown>
    expect(status).toMatchObject({ maxClients: 1, clientsRefused: 1 })
    await first.close()
    run.kill('SIGTERM')
    expect((await run.exit).code).toBe(0)
  })

  test('SIGINT also exits 0; a fault plan file is read', async () => {
    const plan = join(dir.dir, 'plan.json')
    await writeFile(plan, JSON.stringify({ seed: 3, faults: [{ kind: 'close', atFrame: 5, code: 4000 }] }))
    const run = replayCli([file, '--faults', plan, '--start', 'first-client'])
    const client = subscribe(await run.url)
    await client.closed
    expect(client.closeCode).toBe(4000)
    expect(client.frames).toHaveLength(5)
    run.kill('SIGINT')
    expect((await run.exit).code).toBe(0)
  })

  test('usage errors exit 2: two rate flags, bad fault flag, bad plan', async () => {
    for (const args of [
      [file, '--rate', '100', '--max'],
      [file, '--speed', '2', '--original'],
      [file, '--fault', 'explode'],
      [file, '--faults', join(dir.dir, 'missing-plan.json')],
      [file, '--start', 'later'],
      [file, '--max-clients', '0'],
    ]) {
      const { code, stderr } = await replayCli(args).exit
      expect(code, args.join(' ')).toBe(2)
      expect(stderr.length).toBeGreaterThan(0)
    }
  })

  test('a bad fixture path fails at start with a clear message, exit 3', async () => {
    const missing = join(dir.dir, 'missing.fixture.gz')
    const { code, stderr } = await replayCli([missing]).exit
    expect(code).toBe(3)
    expect(stderr).toContain(`fixture ${missing}`)
  })
})
