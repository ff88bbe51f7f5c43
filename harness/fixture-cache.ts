import { existsSync } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { didDocsPathFor, generateFixture } from '../fixtures/generator/index.js'

/** Bump when the generator's output for a seed changes, so stale cached files are not reused. */
const CACHE_VERSION = 1

/**
 * A generated fixture of `events` events for `seed`, cached in os.tmpdir() across runs and
 * processes (generating 20k signed commits takes seconds). Written under a temp name and
 * renamed, so concurrent workers never read a half-written file.
 */
export async function cachedGeneratedFixture(options: { events: number; seed: number }): Promise<string> {
  const path = join(tmpdir(), `firehose-fixture-v${CACHE_VERSION}-${options.events}-${options.seed}.fixture.gz`)
  if (existsSync(path)) return path
  const partial = join(tmpdir(), `firehose-fixture-v${CACHE_VERSION}-${options.events}-${options.seed}.${process.pid}.partial.fixture.gz`)
  try {
    await generateFixture({ out: partial, events: options.events, seed: options.seed })
    await rename(didDocsPathFor(partial), didDocsPathFor(path))
    await rename(partial, path) // last: its existence means the pair is complete
  } finally {
    await rm(partial, { force: true })
    await rm(didDocsPathFor(partial), { force: true })
  }
  return path
}
