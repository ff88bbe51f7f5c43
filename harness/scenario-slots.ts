import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { sleep } from './wait.js'

const DEFAULT_DIR = join(tmpdir(), 'firehose-scenario-slots')
const POLL_MS = 200
/** An exclusive entry without a pid older than this was left by a process that died creating it. */
const HALF_CREATED_STALE_MS = 5000

/**
 * A machine-wide readers-writer lock between scenario runs (vitest runs scenario files in
 * parallel processes): timing-sensitive scenarios (lag p99) run `exclusive`, alone; the rest
 * share. A waiting exclusive run blocks new shared ones, so it is not starved. Entries name
 * their pid; entries of dead processes are ignored and removed.
 */
export async function withScenarioSlot<T>(exclusive: boolean, body: () => Promise<T>, dir = DEFAULT_DIR): Promise<T> {
  await mkdir(dir, { recursive: true })
  const release = exclusive ? await acquireExclusive(dir) : await acquireShared(dir)
  try {
    return await body()
  } finally {
    await release()
  }
}

async function acquireShared(dir: string): Promise<() => Promise<void>> {
  while (await exclusiveHolderAlive(dir)) await sleep(POLL_MS)
  const mine = join(dir, `shared-${process.pid}-${randomBytes(4).toString('hex')}`)
  await writeFile(mine, '')
  return () => rm(mine, { force: true })
}

async function acquireExclusive(dir: string): Promise<() => Promise<void>> {
  const exclusive = join(dir, 'exclusive')
  for (;;) {
    try {
      await mkdir(exclusive)
      await writeFile(join(exclusive, 'pid'), String(process.pid))
      break
    } catch {
      if (!(await exclusiveHolderAlive(dir))) await rm(exclusive, { recursive: true, force: true })
      await sleep(POLL_MS)
    }
  }
  // New shared runs now wait; let the running ones finish.
  while ((await liveSharedEntries(dir)) > 0) await sleep(POLL_MS)
  return () => rm(exclusive, { recursive: true, force: true })
}

async function exclusiveHolderAlive(dir: string): Promise<boolean> {
  const exclusive = join(dir, 'exclusive')
  const pid = await readFile(join(exclusive, 'pid'), 'utf8').catch(() => null)
  if (pid !== null) return alive(Number(pid))
  const created = await stat(exclusive).then(
    (s) => s.mtimeMs,
    () => null,
  )
  return created !== null && Date.now() - created < HALF_CREATED_STALE_MS // being created: held
}

async function liveSharedEntries(dir: string): Promise<number> {
  let live = 0
  for (const name of await readdir(dir)) {
    const pid = /^shared-(\d+)-/.exec(name)?.[1]
    if (pid === undefined) continue
    if (alive(Number(pid))) live++
    else await rm(join(dir, name), { force: true })
  }
  return live
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
