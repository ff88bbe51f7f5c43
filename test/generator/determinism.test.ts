import { mkdir, readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { didDocsPathFor, generateFixture } from '../../generator/index.js'
import { tempDir } from './helpers.js'

const SEED = 31337

describe('generator determinism', () => {
  let dir: string
  let cleanup: () => Promise<void>
  // Same file name in separate folders: the manifest names the DID documents file.
  const run = async (folder: string, seed: number, workers: number): Promise<{ fixture: Buffer; docs: Buffer }> => {
    await mkdir(`${dir}/${folder}`)
    const out = `${dir}/${folder}/gen.fixture.gz`
    await generateFixture({ out, events: 250, accounts: 30, seed, workers })
    return { fixture: await readFile(out), docs: await readFile(didDocsPathFor(out)) }
  }

  beforeAll(async () => ({ dir, cleanup } = await tempDir()))
  afterAll(async () => cleanup?.())

  it('writes the same bytes for the same seed, in this thread or sharded over worker threads', async () => {
    const first = await run('a', SEED, 0)
    const again = await run('b', SEED, 0)
    const sharded = await run('c', SEED, 2)
    expect(first.fixture.equals(again.fixture), `seed ${SEED}`).toBe(true)
    expect(first.docs.equals(again.docs), `seed ${SEED}`).toBe(true)
    expect(first.fixture.equals(sharded.fixture), `seed ${SEED}: workers changed the output`).toBe(true)
    expect(first.docs.equals(sharded.docs)).toBe(true)
    // gzip header: magic, then MTIME (bytes 4-7) must be 0 so the clock cannot leak in.
    expect([...first.fixture.subarray(0, 2)]).toEqual([0x1f, 0x8b])
    expect(first.fixture.readUInt32LE(4)).toBe(0)
  }, 180_000)

  it('writes different frames for another seed', async () => {
    const a = await run('d', SEED, 0)
    const b = await run('e', SEED + 1, 0)
    expect(a.fixture.equals(b.fixture)).toBe(false)
    expect(a.docs.equals(b.docs)).toBe(false)
  }, 180_000)
})
