import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type FirehoseEvent, decodeEvent } from '../../protocol/events.js'
import { openFixture } from '../../fixture-file/index.js'
import { peekFrame } from '../../protocol/peek.js'
import { NO_COMMITTED_FIXTURE, skipTest } from '../support/skip.js'
import { REAL_DATA, allRealFrames, prodCommitFrames, scenarioExpectations, scenarioFrames, scenarioNames } from './helpers.js'

type Json = Record<string, unknown>
const link = (value: unknown): string | null => (value && typeof value === 'object' ? ((value as { $link?: string }).$link ?? null) : null)

/** The event decodeEvent must produce, derived independently from a DAG-JSON body (`$link` form). */
function expectedFromJson(t: string, body: Json): Partial<FirehoseEvent> {
  switch (t) {
    case '#commit':
      return {
        type: 'commit',
        seq: body.seq as number,
        repo: body.repo as string,
        rev: body.rev as string,
        since: body.since === '' ? null : ((body.since as string | null) ?? null),
        commit: link(body.commit)!,
        time: body.time as string,
        tooBig: body.tooBig as boolean,
        rebase: body.rebase as boolean,
        prevData: link(body.prevData),
        blobs: ((body.blobs as unknown[] | null) ?? []).map((b) => link(b)!),
      }
    case '#identity':
      return { type: 'identity', seq: body.seq as number, did: body.did as string, handle: (body.handle as string | undefined) ?? null, time: body.time as string }
    case '#account':
      return {
        type: 'account',
        seq: body.seq as number,
        did: body.did as string,
        active: body.active as boolean,
        status: (body.status as string | undefined) ?? null,
        time: body.time as string,
      }
    case '#sync':
      return { type: 'sync', seq: body.seq as number, did: body.did as string, rev: body.rev as string, time: body.time as string }
    default:
      throw new Error(`no expectation for ${t}`)
  }
}

function expectOpsMatch(event: FirehoseEvent, body: Json, label: string): void {
  if (event.type !== 'commit') return
  const ops = body.ops as Json[]
  expect(
    event.ops.map(({ action, path, cid }) => ({ action, path, cid })),
    label,
  ).toEqual(ops.map((op) => ({ action: op.action, path: op.path, cid: op.action === 'delete' ? null : link(op.cid) })))
  for (const [i, op] of ops.entries()) {
    if ('prev' in op) expect(event.ops[i]!.prev, label).toBe(link(op.prev))
    // Every create/update in these frames has its record block: the record is a lexicon object.
    if (op.action !== 'delete') expect((event.ops[i]!.record as Json).$type, label).toBe((op.path as string).split('/')[0])
    else expect(event.ops[i]!.record, label).toBeNull()
  }
}

describe('real network frames', () => {
  it('every frame in test/data/real decodes, with and without block verification', () => {
    const frames = allRealFrames()
    expect(frames.length).toBe(4 + scenarioNames().reduce((n, s) => n + scenarioFrames(s).length, 0))
    for (const { name, bytes } of frames) {
      const verified = decodeEvent(bytes)
      expect(decodeEvent(bytes, { verifyBlocks: false }), name).toEqual(verified)
    }
  })

  it('indigo production commits match their DAG-JSON bodies (legacy prev, non-TID revs, 42-op commit)', () => {
    const jsonDir = join(REAL_DATA, 'indigo-prod-commits')
    const jsonFiles = readdirSync(jsonDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
    const frames = prodCommitFrames()
    expect(frames.length).toBe(jsonFiles.length)
    for (const [i, file] of jsonFiles.entries()) {
      const body = JSON.parse(readFileSync(join(jsonDir, file), 'utf8')) as Json
      const event = decodeEvent(frames[i]!.bytes)
      expect(event, file).toMatchObject(expectedFromJson('#commit', body))
      expectOpsMatch(event, body, file)
    }
  })

  for (const scenario of scenarioNames()) {
    it(`relay scenario ${scenario}: each frame decodes to its type, seq and fields`, () => {
      const frames = scenarioFrames(scenario)
      const expectations = scenarioExpectations(scenario)
      const source = JSON.parse(readFileSync(join(REAL_DATA, 'indigo-relay-scenarios', `${scenario}.json`), 'utf8')) as {
        messages: { frame: { header: { t: string }; body: Json } }[]
      }
      expect(frames.length).toBe(expectations.length)
      for (const [i, { name, bytes }] of frames.entries()) {
        const expectation = expectations[i]!
        const body = source.messages[i]!.frame.body
        const event = decodeEvent(bytes)
        // The codec decodes frames a relay would drop (stale seq, bad rev, inactive account):
        // `drop`/`invalid` are relay policy, applied (or not) above the codec.
        expect(event.type, name).toBe(expectation.t.slice(1))
        expect('seq' in event ? event.seq : undefined, name).toBe(expectation.seq)
        expect(event, name).toMatchObject(expectedFromJson(expectation.t, body))
        expectOpsMatch(event, body, name)
      }
    })
  }
})

const COMMITTED_FIXTURE = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname

describe('committed generated fixture', () => {
  it('every frame decodes (blocks verified), peeks to the same seq, and matches the manifest counts', async (context) => {
    if (!existsSync(COMMITTED_FIXTURE)) skipTest(context, NO_COMMITTED_FIXTURE)
    const reader = await openFixture(COMMITTED_FIXTURE)
    const counts: Record<string, number> = {}
    try {
      for await (const { bytes } of reader.frames()) {
        const event = decodeEvent(bytes)
        counts[`#${event.type}`] = (counts[`#${event.type}`] ?? 0) + 1
        expect(peekFrame(bytes).seq).toBe('seq' in event && event.seq !== null ? event.seq : undefined)
      }
      expect(counts).toEqual(reader.manifest()?.countsByType)
    } finally {
      await reader.close()
    }
  })
})
