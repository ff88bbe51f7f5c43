import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { waitUntil } from '../../harness/wait.js'
import { encodeFrame } from '../../protocol/frame.js'
import { FixtureWriter } from '../../fixture-file/index.js'
import { peekFrame } from '../../protocol/peek.js'
import { withSeq } from '../../replay/seq-field.js'
import type { ReplayHandle, ReplayStatus } from '../../replay/index.js'

import { REAL_DATA } from '../shared-data.js'

export { REAL_DATA }
export const SCENARIOS = join(REAL_DATA, 'indigo-relay-scenarios')

export interface TestFrame {
  bytes: Uint8Array
  timeUs: number
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'replay-test-'))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

export async function writeFixture(path: string, frames: TestFrame[]): Promise<void> {
  const writer = await FixtureWriter.create(path, { source: 'test' })
  for (const frame of frames) if (!writer.write(frame)) await writer.drain()
  await writer.close()
}

/** Real wire frames from the indigo relay scenarios (all scenarios, in folder order). */
export async function realFrames(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const scenario of (await readdir(SCENARIOS, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    const dir = join(SCENARIOS, scenario, 'frames')
    for (const name of (await readdir(dir)).sort()) out.push(new Uint8Array(await readFile(join(dir, name))))
  }
  return out
}

/**
 * `count` frames with seqs firstSeq, firstSeq+step, ...: real frames re-sequenced (cycled), each
 * 1 ms apart in recorded time. Cursor tests need distinct increasing seqs; the bytes stay real.
 */
export async function sequencedFrames(count: number, options: { firstSeq?: number; step?: number; startUs?: number; gapUs?: number } = {}): Promise<TestFrame[]> {
  const real = await realFrames()
  const firstSeq = options.firstSeq ?? 1
  const step = options.step ?? 1
  const startUs = options.startUs ?? 1_700_000_000_000_000
  const gapUs = options.gapUs ?? 1_000
  return Array.from({ length: count }, (_, i) => ({ bytes: withSeq(real[i % real.length]!, firstSeq + i * step), timeUs: startUs + i * gapUs }))
}

/** Small synthetic #identity frames (fast to build in bulk, for rate and bench runs). */
export function syntheticFrames(count: number, firstSeq = 1, gapUs = 1_000): TestFrame[] {
  const startUs = 1_700_000_000_000_000
  return Array.from({ length: count }, (_, i) => ({
    bytes: encodeFrame({ op: 1, t: '#identity' }, { seq: firstSeq + i, did: `did:plc:replaytest${i % 1000}`, time: '2024-01-01T00:00:00.000Z' }),
    timeUs: startUs + i * gapUs,
  }))
}

export function seqOf(bytes: Uint8Array): number | undefined {
  try {
    return peekFrame(bytes).seq
  } catch {
    return undefined
  }
}

export interface Received {
  frames: Uint8Array[]
  closeCode: number | null
  closeReason: string
  ws: WebSocket
  /** Resolves when the socket is open. */
  opened: Promise<void>
  /** Resolves when the socket closed (or failed to open). */
  closed: Promise<void>
  /** Resolves once `n` frames have arrived (rejects if the socket closes first). */
  waitFor(n: number, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/** A plain ws subscriber that records every message. */
export function subscribe(url: string, query = ''): Received {
  const ws = new WebSocket(url + query)
  const frames: Uint8Array[] = []
  const waiters: { n: number; resolve: () => void; reject: (err: Error) => void }[] = []
  const result: Received = {
    frames,
    closeCode: null,
    closeReason: '',
    ws,
    opened: new Promise((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    }),
    closed: new Promise((resolve) => ws.once('close', () => resolve())),
    waitFor(n, timeoutMs = 10_000) {
      if (frames.length >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out with ${frames.length}/${n} frames`)), timeoutMs)
        waiters.push({
          n,
          resolve: () => (clearTimeout(timer), resolve()),
          reject: (err) => (clearTimeout(timer), reject(err)),
        })
      })
    },
    async close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate()
      await result.closed
    },
  }
  ws.on('error', () => {})
  result.opened.catch(() => {}) // callers that care await it; a refused handshake is not unhandled
  ws.on('message', (data: Buffer) => {
    frames.push(new Uint8Array(data))
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (frames.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve()
    }
  })
  ws.on('close', (code, reason) => {
    result.closeCode = code
    result.closeReason = reason.toString()
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`socket closed (${code} ${reason.toString()}) with ${frames.length}/${waiter.n} frames`))
  })
  return result
}

/** Waits (harness/wait.ts) until `check` passes on the replay's status; returns the status that passed. */
export async function until(replay: ReplayHandle, check: (status: ReplayStatus) => boolean, timeoutMs = 10_000): Promise<ReplayStatus> {
  let status = replay.status()
  await waitUntil(() => check((status = replay.status())), { what: 'a replay status condition', timeoutMs, intervalMs: 10 }).catch((err: unknown) => {
    throw new Error(`${String(err)}; last status: ${JSON.stringify({ ...status, clients: status.clients.length })}`, { cause: err })
  })
  return status
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
