import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, test } from 'vitest'
import { startCli, type CliResult } from '../support/cli.js'
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
  exit: Promise<CliResult>
  kill(signal: NodeJS.Signals): void
}

/** `firehose replay ARGS` on a free port: `url` is the first line it prints. */
function replayCli(args: string[], env: Record<string, string> = {}): Run {
  const run = startCli(['replay', ...args], { env: { FIREHOSE_LOG_LEVEL: 'warn', ...env }, timeoutMs: 30_000 })
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: run.child.stdout! }).once('line', resolve)
    void run.done.then(({ code, stderr }) => reject(new Error(`exited ${code} before printing the URL: ${stderr}`)))
  })
  url.catch(() => {})
  return { url, exit: run.done, kill: (signal) => run.child.kill(signal) }
}

// Each case runs its own replay CLI on a free port: concurrent.
describe.concurrent('firehose replay CLI', () => {
  test('prints the URL, serves the fixture, takes options from FIREHOSE_REPLAY_* env, exits 0 on SIGTERM', async ({ expect }) => {
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

  test('--max-clients (here from FIREHOSE_REPLAY_MAX_CLIENTS): a subscription beyond gets HTTP 503, counted in status', async ({ expect }) => {
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

  test('SIGINT also exits 0; a fault plan file is read', async ({ expect }) => {
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

  test('usage errors exit 2: two rate flags, bad fault flag, bad plan', async ({ expect }) => {
    const cases = [
      [file, '--rate', '100', '--max'],
      [file, '--speed', '2', '--original'],
      [file, '--fault', 'explode'],
      [file, '--faults', join(dir.dir, 'missing-plan.json')],
      [file, '--start', 'later'],
      [file, '--max-clients', '0'],
    ]
    const results = await Promise.all(cases.map((args) => replayCli(args).exit))
    results.forEach(({ code, stderr }, i) => {
      expect(code, cases[i]!.join(' ')).toBe(2)
      expect(stderr.length).toBeGreaterThan(0)
    })
  })

  test('a bad fixture path fails at start with a clear message, exit 3', async ({ expect }) => {
    const missing = join(dir.dir, 'missing.fixture.gz')
    const { code, stderr } = await replayCli([missing]).exit
    expect(code).toBe(3)
    expect(stderr).toContain(`fixture ${missing}`)
  })
})
