import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { didDocsPathFor, generateFixture } from '../generator/index.js'
import { sleep } from './wait.js'

/** Bump when the generator's output for a seed changes, so stale cached files are not reused. */
const CACHE_VERSION = 1
const LOCK_POLL_MS = 250

export interface CachedFixtureOptions {
  events: number
  seed: number
  /** Every repo starts in the fixture, so the replay can export each at any point (generator fromCreation). */
  fromCreation?: boolean
  /** Accounts of the simulated network (generator default: events / 20). */
  accounts?: number
  /** Median records per pre-existing repo (generator default: 60). */
  medianRecords?: number
}

/**
 * A generated fixture of `events` events for `seed`, cached in os.tmpdir() across runs and
 * processes (generating 20k signed commits takes minutes on a busy 2-core machine). One
 * process generates (a lock directory holds its pid; a dead holder's lock is taken over),
 * others wait; the file is written under a temp name and renamed, so nobody reads it half
 * written.
 */
export async function cachedGeneratedFixture(options: CachedFixtureOptions): Promise<string> {
  const shape = `${options.fromCreation === true ? '-from-creation' : ''}${options.accounts === undefined ? '' : `-a${options.accounts}`}${options.medianRecords === undefined ? '' : `-r${options.medianRecords}`}`
  const base = join(tmpdir(), `firehose-fixture-v${CACHE_VERSION}-${options.events}-${options.seed}${shape}`)
  const path = `${base}.fixture.gz`
  const lock = `${base}.lock`
  while (!existsSync(path)) {
    if (await acquire(lock)) {
      try {
        if (!existsSync(path)) await generate(base, path, options)
      } finally {
        await rm(lock, { recursive: true, force: true })
      }
    } else {
      await sleep(LOCK_POLL_MS)
    }
  }
  return path
}

async function acquire(lock: string): Promise<boolean> {
  try {
    await mkdir(lock)
    await writeFile(join(lock, 'pid'), String(process.pid))
    return true
  } catch {
    const holder = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''))
    if (Number.isSafeInteger(holder) && holder > 0 && !alive(holder)) await rm(lock, { recursive: true, force: true })
    return false
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function generate(base: string, path: string, options: CachedFixtureOptions): Promise<void> {
  const partial = `${base}.${process.pid}.partial.fixture.gz`
  try {
    await generateFixture({ out: partial, events: options.events, seed: options.seed, fromCreation: options.fromCreation ?? false, accounts: options.accounts, medianRecords: options.medianRecords })
    await rename(didDocsPathFor(partial), didDocsPathFor(path))
    await rename(partial, path) // last: its existence means the pair is complete
  } finally {
    await rm(partial, { force: true })
    await rm(didDocsPathFor(partial), { force: true })
  }
}
