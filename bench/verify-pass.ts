import { readFixtureFrames } from '../fixture-file/index.js'
import { signerOf } from '../generator/activity-stats.js'
import { decodeEvent } from '../protocol/events.js'
import { createCandidate, type Candidate } from './verify-candidates.js'
import { FRAME_CLASSES, type Cost, type FrameClass, type PassRequest, type PassResult, type ServedFixture } from './verify-types.js'

/**
 * One measurement of bench/verify.ts, in a process of its own (started by it with fork): every
 * per-key cache (DID keys, OpenSSL key objects, precomputed tables) starts empty, as after a
 * restart, and process.cpuUsage() counts this candidate alone. Takes a PassRequest as JSON in
 * argv[2] and sends a PassResult to the parent.
 */
const BATCH = 500
/** Passes over the warm-up frames: enough for the JIT to compile the hot paths. */
const WARMUP_PASSES = 2

/** Frames refused so far (PassResult.failures). */
const failures: PassResult['failures'] = { frames: 0, first: null }

async function run(candidate: Candidate, frames: readonly Uint8Array[]): Promise<void> {
  const refused = await candidate.run(frames)
  failures.frames += refused.length
  failures.first ??= refused[0] ?? null
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2]!) as PassRequest
  const [frames, warmupFrames] = await Promise.all([readFixtureFrames(request.fixture.path), readFixtureFrames(request.warmup.path)])
  await warmUp(request, warmupFrames)

  const candidate = await createCandidate(request.candidate, setupFor(request.fixture, request.previousDir))
  try {
    const classes = classify(frames)
    const dids = signers(frames)
    const resolve = await measure(dids.length, () => candidate.resolveAll(dids))
    const result: PassResult =
      request.mode === 'batched'
        ? { resolve, cold: await measure(frames.length, () => inBatches(candidate, frames)), warm: await warmPasses(candidate, frames, request.warmSeconds), byClass: null, failures }
        : { resolve, ...(await perFrame(candidate, frames, classes)), warm: null, failures }
    process.send!(result)
  } finally {
    await candidate.close()
  }
}

async function warmUp(request: PassRequest, frames: readonly Uint8Array[]): Promise<void> {
  const candidate = await createCandidate(request.candidate, setupFor(request.warmup, request.previousDir))
  try {
    await candidate.resolveAll(signers(frames))
    for (let pass = 0; pass < WARMUP_PASSES; pass++) await inBatches(candidate, frames)
  } finally {
    await candidate.close()
  }
}

function setupFor(fixture: ServedFixture, previousDir: string | null): Parameters<typeof createCandidate>[1] {
  return { plcUrl: fixture.plcUrl, didDocsPath: `${fixture.path}.did-docs.json`, previousDir }
}

async function inBatches(candidate: Candidate, frames: readonly Uint8Array[]): Promise<void> {
  for (let i = 0; i < frames.length; i += BATCH) await run(candidate, frames.slice(i, i + BATCH))
}

/** Batches from the start of the fixture again and again (wrapping) until `seconds` have passed. */
async function warmPasses(candidate: Candidate, frames: readonly Uint8Array[], seconds: number): Promise<Cost | null> {
  if (seconds <= 0) return null
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let done = 0
  while (performance.now() - t0 < seconds * 1000) {
    const start = done % frames.length
    const batch = frames.slice(start, Math.min(start + BATCH, frames.length))
    await run(candidate, batch)
    done += batch.length
  }
  return { frames: done, cpuMs: cpuMsSince(cpu0), wallMs: performance.now() - t0 }
}

/** Each frame on its own (a batch of one), its cost added to its class's. */
async function perFrame(candidate: Candidate, frames: readonly Uint8Array[], classes: readonly FrameClass[]): Promise<Pick<PassResult, 'cold' | 'byClass'>> {
  const byClass = Object.fromEntries(FRAME_CLASSES.map((c) => [c, { frames: 0, cpuMs: 0, wallMs: 0 }])) as Record<FrameClass, Cost>
  for (const [i, bytes] of frames.entries()) {
    const cost = byClass[classes[i]!]
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await run(candidate, [bytes])
    cost.wallMs += performance.now() - t0
    cost.cpuMs += cpuMsSince(cpu0)
    cost.frames++
  }
  const cold = Object.values(byClass).reduce((sum, c) => ({ frames: sum.frames + c.frames, cpuMs: sum.cpuMs + c.cpuMs, wallMs: sum.wallMs + c.wallMs }), { frames: 0, cpuMs: 0, wallMs: 0 })
  return { cold, byClass }
}

/** The DIDs that signed frames of the fixture, each once. */
function signers(frames: readonly Uint8Array[]): string[] {
  return [...new Set(frames.map((bytes) => signerOf(decodeEvent(bytes))).filter((did) => did !== undefined))]
}

/** Each frame's class, in fixture order (FrameClass). */
function classify(frames: readonly Uint8Array[]): FrameClass[] {
  const seen = new Set<string>()
  const forgotten = new Set<string>()
  return frames.map((bytes) => {
    const event = decodeEvent(bytes)
    if (event.type === 'identity') {
      forgotten.add(event.did)
      return 'other'
    }
    const did = signerOf(event)
    if (did === undefined) return 'other'
    const refetch = forgotten.delete(did)
    if (seen.has(did)) return refetch ? 'refetch' : 'repeat'
    seen.add(did)
    return 'first'
  })
}

async function measure(frames: number, work: () => Promise<void>): Promise<Cost> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await work()
  return { frames, cpuMs: cpuMsSince(cpu0), wallMs: performance.now() - t0 }
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start)
  return (user + system) / 1000
}

await main()
