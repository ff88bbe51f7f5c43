import { join } from 'node:path'
import { test } from 'vitest'
import { startReplay } from '../../replay/index.js'
import { sequencedFrames, syntheticFrames, subscribe, tempDir, writeFixture } from './helpers.js'

test.each(['real', 'synthetic'])('repro %s', async (kind) => {
  const dir = await tempDir()
  const frames = kind === 'real' ? await sequencedFrames(20_000) : syntheticFrames(20_000)
  console.log('avg bytes', frames.reduce((a, f) => a + f.bytes.byteLength, 0) / frames.length)
  const file = join(dir.dir, 'f.fixture.gz')
  await writeFixture(file, frames)
  const replay = await startReplay({ files: [file], outbox: 500, rate: { mode: 'max' }, start: 'first-client' })
  const c = subscribe(replay.url)
  await c.opened
  c.ws.pause()
  const timer = setInterval(() => { c.ws.resume(); setImmediate(() => c.ws.pause()) }, 50)
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 200))
    const s = replay.status()
    console.log(i, s.framesPublished, s.finished, c.frames.length, JSON.stringify(s.clients.map(x=>[x.framesSent,x.closeReason])))
    if (s.finished && c.frames.length === 20000) break
  }
  clearInterval(timer)
  c.ws.resume()
  await c.close(); await replay.close(); await dir.cleanup()
}, 60_000)
