import { mkdir, readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeEvent } from '../../protocol/events.js'
import { generate, tempDir } from './helpers.js'

const SEED = 2718

describe('--from-creation: every repo starts in the fixture, so it can be rebuilt from the frames alone (the replay serves getRepo)', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeAll(async () => ({ dir, cleanup } = await tempDir()))
  afterAll(async () => cleanup?.())

  it('each DID: a creation commit (no since, no prevData, only creates) before any other frame of it; same bytes sharded over workers', async () => {
    await mkdir(`${dir}/a`)
    await mkdir(`${dir}/b`)
    const options = { events: 300, accounts: 20, medianRecords: 5, seed: SEED, fromCreation: true }
    const generated = await generate(`${dir}/a`, 'gen.fixture.gz', { ...options, workers: 0 })
    const sharded = await generate(`${dir}/b`, 'gen.fixture.gz', { ...options, workers: 2 })
    expect((await readFile(generated.path)).equals(await readFile(sharded.path)), `seed ${SEED}: workers changed the output`).toBe(true)

    const started = new Set<string>()
    let preloaded = 0
    for (const [i, { bytes }] of generated.frames.entries()) {
      const event = decodeEvent(bytes)
      if (event.type === 'commit' && !started.has(event.repo)) {
        expect({ since: event.since, prevData: event.prevData }, `seed ${SEED} frame ${i}`).toEqual({ since: null, prevData: null })
        expect(
          event.ops.every((op) => op.action === 'create'),
          `seed ${SEED} frame ${i}`,
        ).toBe(true)
        if (event.ops.length > 0) preloaded++
        started.add(event.repo)
      } else if (event.type === 'commit' || event.type === 'sync') {
        expect(started.has(event.type === 'commit' ? event.repo : event.did), `seed ${SEED} frame ${i}: a commit before the repo's creation`).toBe(true)
      }
    }
    expect(preloaded, `seed ${SEED}: existing accounts bring their repos`).toBeGreaterThan(5)
  }, 180_000)
})
