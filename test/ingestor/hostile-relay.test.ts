import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorOptions } from '../../ingestor/index.js'
import type { FaultSpec } from '../../replay/index.js'
import { loadIngestor, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture, ownRedisForSuite } from './helpers.js'

const FRAMES = 300
const AT = 100

interface LogLine {
  level: number
  msg: string
  code?: string
  cursor?: number
  suppressed?: Record<string, number>
}

describe('hostile relays (real replay server, real Redis)', () => {
  const temp = tempDir()
  let fixture: string
  const own = ownRedisForSuite()
  beforeAll(async () => {
    fixture = await writeFixture(join(temp.dir, 'hostile.fixture.gz'), sequencedRealFrames(FRAMES))
  })
  afterAll(() => temp.cleanup())

  /** Ingests the fixture through a replay with `faults` until the cursor reaches the end; returns the logs. */
  async function ingestThrough(faults: FaultSpec[], options: Partial<IngestorOptions>): Promise<{ lines: LogLine[]; status: Awaited<ReturnType<typeof run>> }> {
    const lines: LogLine[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) })
    const status = await run(faults, options, logger)
    return { lines, status }
  }

  async function run(faults: FaultSpec[], options: Partial<IngestorOptions>, logger: pino.Logger) {
    const relay = await replay([fixture], { faults, start: 'first-client', seed: 11 })
    const keys = uniqueKeys('test:hostile')
    const { startIngestor } = await loadIngestor()
    const handle = await startIngestor({
      relayUrl: relay.url,
      redisUrl: own.redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      startCursor: 0,
      statusIntervalMs: 0,
      relayBackoff: { initialMs: 50, maxMs: 200 },
      logger,
      ...options,
    })
    try {
      await waitUntil(() => relay.status().finished && (handle.status().storedCursor ?? 0) >= FRAMES, { what: `cursor ${FRAMES}`, timeoutMs: 60_000, intervalMs: 25 })
      await handle.stop()
      const result = await checkStream({ redisUrl: own.redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      expect(result).toMatchObject({ ok: true, delivered: FRAMES })
      return handle.status()
    } finally {
      await handle.stop()
      await relay.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  }

  it('10,000 garbage frames: all dead-lettered and counted, logged as one line per code plus summaries', async () => {
    const count = 10_000
    const { lines, status } = await ingestThrough([{ kind: 'garbage', atFrame: AT, count, bytes: 48 }], { maxConsecutiveBadFrames: 1_000_000 })
    expect(status.counters.deadLettered).toBe(count)
    const full = lines.filter((line) => line.msg === 'malformed frame: quarantined in the dead-letter stream')
    const summaries = lines.filter((line) => line.suppressed !== undefined)
    const suppressed = summaries.reduce((sum, line) => sum + Object.values(line.suppressed!).reduce((a, b) => a + b, 0), 0)
    // Each code is logged once in full; every other occurrence is in a summary count.
    expect(new Set(full.map((line) => line.code)).size).toBe(full.length)
    expect(full.length + suppressed).toBe(count)
    const warnings = lines.filter((line) => line.level >= 40)
    expect(warnings.length).toBeLessThan(20) // was one line per frame: 10,000
  })

  it('a message over --max-message-mb: error log with the cursor, counted in status, reconnect with backoff, nothing lost', async () => {
    const { lines, status } = await ingestThrough([{ kind: 'oversize', atFrame: AT, bytes: 2 * 1024 * 1024 }], { maxMessageBytes: 1024 * 1024 })
    expect(status.relay.oversizedMessages).toBe(1)
    expect(status.relay.reconnects).toBeGreaterThanOrEqual(1)
    const errors = lines.filter((line) => line.level === 50 && line.msg.includes('over the 1048576-byte limit'))
    expect(errors).toHaveLength(1)
    expect(errors[0]!.cursor).toBe(AT)
    expect(errors[0]!.msg).toContain('ingestion is blocked until the limit is raised or the cursor moved')
    // Frames flowed again after the reconnect (this replay sends the big message only once).
    expect(status.relay.lastError).toBeNull()
  })
})
