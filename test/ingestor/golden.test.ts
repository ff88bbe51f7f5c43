import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisHandle } from '../../harness/redis/index.js'
import { expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { fixtureGoldenPath, ingestCommittedFixture, ingestRealFrames, realGoldenPath, type FixtureGolden, type RealGolden } from './golden-output.js'
import { NO_COMMITTED_FIXTURE, skipTest } from '../support/skip.js'
import { committedFixture, legacyParse, mapParse, startOwnRedis } from './helpers.js'

// Regenerate after an intended output change: UPDATE_GOLDEN=1 npx vitest run test/ingestor/golden.test.ts
const update = process.env.UPDATE_GOLDEN === '1'

describe('ingestor output against golden files (the worker contract)', () => {
  let redis: RedisHandle
  beforeAll(async () => {
    redis = await startOwnRedis()
  })
  afterAll(async () => {
    await redis.stop()
  })

  it('every frame in test/data/real: exact field lists, readable by map and by position', async () => {
    const actual = await ingestRealFrames(redis.url)
    if (update) writeFileSync(realGoldenPath, `${JSON.stringify(actual, null, 1)}\n`)
    const golden = JSON.parse(readFileSync(realGoldenPath, 'utf8')) as RealGolden
    expect(actual).toEqual(golden)

    const all = Object.values(actual).flatMap((group) => group.entries)
    expect(all.length).toBeGreaterThan(30)
    for (const fields of all) {
      expect(fields.filter((_, i) => i % 2 === 0)).toEqual(['type', 'data', 'seq'])
      const byName = mapParse(fields)
      const legacy = legacyParse(fields)
      expect(legacy).toEqual({ type: byName.type, data: JSON.parse(byName.data!), seq: Number(byName.seq) })
      expect((legacy.data as { seq: number }).seq).toBe(legacy.seq)
      const data = legacy.data as Record<string, unknown>
      switch (legacy.type) {
        case 'commit':
          expect(data).toMatchObject({ repo: expect.stringMatching(/^did:/), ops: expect.any(Array) })
          for (const op of data.ops as { action: string; record: unknown }[]) {
            // Records are published in the JSON data model, not dropped like the Python consumer did.
            if (op.action !== 'delete') expect(op.record).toMatchObject({ $type: expect.any(String) })
          }
          break
        case 'identity':
          expect(data).toMatchObject({ did: expect.stringMatching(/^did:/) })
          expect(data).toHaveProperty('handle')
          break
        case 'account':
          expect(data).toMatchObject({ did: expect.stringMatching(/^did:/), active: expect.any(Boolean) })
          expect(data).toHaveProperty('status')
          break
        case 'sync':
          expect(data).toMatchObject({ did: expect.any(String), rev: expect.any(String), commit: expect.any(String) })
          break
        default:
          throw new Error(`unexpected type ${legacy.type}`)
      }
    }
    // seq_ordering sends 1000, 1000, 5, 2000: the repeat and the step backwards are skipped.
    expect(actual['indigo-relay-scenarios/seq_ordering/frames']!.entries.map((f) => f[5])).toEqual(['1000', '2000'])
  })

  it('the committed fixture: every entry (seq, type, data hash) as recorded', async (context) => {
    if (!existsSync(committedFixture)) skipTest(context, NO_COMMITTED_FIXTURE)
    const actual = await ingestCommittedFixture(redis.url)
    expect(actual, `${committedFixture} is missing`).not.toBeNull()
    if (update) writeFileSync(fixtureGoldenPath, `${JSON.stringify(actual)}\n`)
    const golden = JSON.parse(readFileSync(fixtureGoldenPath, 'utf8')) as FixtureGolden
    expect(actual).toEqual(golden)
    // Independent of the ingestor: the entries the codec says the fixture holds, in order.
    const expected = await expectedEntriesFromFixture(committedFixture)
    expect(actual!.entries).toEqual(expected.map((e) => [e.seq, e.type, createHash('sha256').update(e.data).digest('hex').slice(0, 16)]))
  })
})
