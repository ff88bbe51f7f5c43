import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { afterAll, beforeAll } from 'vitest'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { didDocsPathFor, generateFixture, type GenerateOptions } from '../../generator/index.js'
import { openFixture, type FixtureFrame, type FixtureManifest } from '../../fixture-file/index.js'

export interface Generated {
  path: string
  manifest: FixtureManifest
  frames: FixtureFrame[]
  didDocs: Record<string, Record<string, unknown>>
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'firehose-generator-'))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

export async function readFrames(path: string): Promise<FixtureFrame[]> {
  const reader = await openFixture(path)
  const frames: FixtureFrame[] = []
  try {
    for await (const frame of reader.frames()) frames.push(frame)
  } finally {
    await reader.close()
  }
  return frames
}

/** Generates into `dir` and reads everything back. */
export async function generate(dir: string, name: string, options: Omit<GenerateOptions, 'out'>): Promise<Generated> {
  const path = join(dir, name)
  const manifest = await generateFixture({ ...options, out: path })
  const didDocs = JSON.parse(await readFile(didDocsPathFor(path), 'utf8')) as Generated['didDocs']
  return { path, manifest, frames: await readFrames(path), didDocs }
}

/** A fixture the suite generates once (beforeAll) in a temp dir removed after it (afterAll); read its fields inside tests. */
export function generatedForSuite(name: string, options: Omit<GenerateOptions, 'out'>): { readonly generated: Generated; readonly frames: Uint8Array[] } {
  const suite = {} as { generated: Generated; frames: Uint8Array[] }
  let tmp: Awaited<ReturnType<typeof tempDir>> | null = null
  beforeAll(async () => {
    tmp = await tempDir()
    suite.generated = await generate(tmp.dir, name, options)
    suite.frames = suite.generated.frames.map((frame) => frame.bytes)
  }, 120_000)
  afterAll(async () => {
    await tmp?.cleanup()
  })
  return suite
}
