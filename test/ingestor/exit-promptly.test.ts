import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReplayHandle } from '../../replay/index.js'
import { ownRedisForSuite, replay, repoRoot, sequencedRealFrames, tempDir, writeFixture } from './helpers.js'

/**
 * A child that starts an ingestor, ends it (stop() after its frames are in, or a fatal
 * configuration error) and prints what still keeps its event loop alive: anything there delays
 * its exit (a timer, a socket). Closing sockets may take a moment (at most 200 ms for a server
 * that does not close its side: redis-connection.ts), so it looks again for up to a second
 * (the delays this guards against were 2 to 5 s). Stdio pipes and file reads end with the process.
 */
const CHILD = `
const { startIngestor } = await import(process.argv[1])
const [relayUrl, redisUrl, frames] = process.argv.slice(2)
const handle = await startIngestor({ relayUrl, redisUrl, stream: 'exit:' + process.pid, cursorKey: 'exit:cursor:' + process.pid, startCursor: 0, statusIntervalMs: 10_000 })
if (frames !== '0') {
  while ((handle.status().storedCursor ?? 0) < Number(frames)) await new Promise((resolve) => setTimeout(resolve, 20))
  await handle.stop()
}
await handle.done
// 'Immediate' is this loop's own turn.
const alive = () => process.getActiveResourcesInfo().filter((kind) => !['PipeWrap', 'TTYWrap', 'FSReqPromise', 'FSReqCallback', 'Immediate'].includes(kind))
const { setImmediate: turn } = await import('node:timers/promises')
const deadline = Date.now() + 1000
while (alive().length > 0 && Date.now() < deadline) await turn()
console.log(JSON.stringify({ stoppedBy: handle.status().stoppedBy, alive: alive() }))
`

describe('a process that ran an ingestor exits as soon as the ingestor has ended', () => {
  const temp = tempDir()
  const own = ownRedisForSuite()
  let relay: ReplayHandle
  beforeAll(async () => {
    relay = await replay([await writeFixture(join(temp.dir, 'exit.fixture.gz'), sequencedRealFrames(200))])
  })
  afterAll(async () => {
    await relay.close()
    temp.cleanup()
  })

  async function run(redisUrl: string, frames: number): Promise<{ stoppedBy: string; alive: string[] }> {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD, join(repoRoot, 'dist/ingestor/index.js'), relay.url, redisUrl, String(frames)], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as { stoppedBy: string; alive: string[] }
  }

  it('after stop(): nothing keeps the event loop alive', async () => {
    expect(await run(own.redis.url, 200)).toEqual({ stoppedBy: 'stop', alive: [] })
  })

  it('after a fatal configuration error (a database the server lacks): nothing keeps the event loop alive', async () => {
    expect(await run(`${own.redis.url}/99`, 0)).toEqual({ stoppedBy: 'fatal', alive: [] })
  })
})
