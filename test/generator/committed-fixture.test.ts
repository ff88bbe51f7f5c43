import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openFixture } from '../../fixture-file/index.js'
import { generate, readFrames, tempDir, type Generated } from './helpers.js'

const COMMITTED = fileURLToPath(new URL('../../fixtures/generated.fixture.gz', import.meta.url))
// The command in fixtures/README.md: --events 1500 --accounts 75 --repo-records 20 --seed 2025.
const SEED = 2025
const PREFIX = 150

/**
 * The committed fixture is reproducible from its README command. Regenerating all of it is
 * slow on a shared machine, and the plan does not depend on --events, so the first frames of
 * a short run with the same options must equal the committed file's first frames.
 */
describe('fixtures/generated.fixture.gz', () => {
  let regenerated: Generated
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanup = tmp.cleanup
    regenerated = await generate(tmp.dir, 'generated.fixture.gz', { events: PREFIX, accounts: 75, medianRecords: 20, seed: SEED, workers: 0 })
  }, 180_000)
  afterAll(async () => cleanup?.())

  it('starts with exactly the frames its README command makes', async () => {
    const committed = (await readFrames(COMMITTED)).slice(0, PREFIX)
    expect(committed.length).toBe(PREFIX)
    for (const [i, frame] of committed.entries()) {
      expect(frame.timeUs, `frame ${i}`).toBe(regenerated.frames[i]!.timeUs)
      expect(Buffer.from(frame.bytes).equals(Buffer.from(regenerated.frames[i]!.bytes)), `frame ${i} (seed ${SEED})`).toBe(true)
    }
  })

  it('has a complete manifest naming its seed and DID documents, and a key for every account', async () => {
    const reader = await openFixture(COMMITTED)
    for await (const _ of reader.frames()) void _
    const manifest = reader.manifest()
    await reader.close()
    expect(manifest).toMatchObject({ complete: true, frameCount: 1500, meta: { generator: 'appview-firehose', seed: SEED, accounts: 75, didDocs: 'generated.fixture.gz.did-docs.json' } })
    const docs = JSON.parse(await readFile(`${COMMITTED}.did-docs.json`, 'utf8')) as Record<string, { verificationMethod: unknown }>
    expect(Object.keys(docs)).toEqual(Object.keys(regenerated.didDocs))
    for (const [did, doc] of Object.entries(docs)) expect(doc.verificationMethod, did).toEqual(regenerated.didDocs[did]!.verificationMethod)
  })
})
