import { describe, expect, it } from 'vitest'
import { decodeInline } from '../../ingestor/decode-frame.js'
import { collectionPatternError, EventFilter, eventFilterSpec, eventTypeError } from '../../ingestor/event-filter.js'
import type { CommitEvent, IdentityEvent } from '../../protocol/events.js'
import { decodeEvent } from '../../protocol/events.js'
import { isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { allRealFrames } from '../protocol/helpers.js'

const op = (path: string) => ({ action: 'create', path, cid: 'bafyreib2rxk3rh6kzwq', record: { text: path } })
const COMMIT: CommitEvent = {
  type: 'commit',
  seq: 42,
  repo: 'did:plc:abc',
  rev: '3lqmwr3seevbo',
  commit: 'bafyreicommit',
  time: '2025-01-01T00:00:00.000Z',
  since: null,
  prevData: null,
  data: null,
  tooBig: false,
  rebase: false,
  blobs: [],
  ops: [op('app.bsky.feed.post/1'), op('app.bsky.feed.like/2'), op('app.bsky.graph.follow/3'), op('app.bsky.graphx.thing/4'), op('app.bsky.feed.post/5')],
}
const IDENTITY: IdentityEvent = { type: 'identity', seq: 43, did: 'did:plc:abc', handle: 'a.test', time: '2025-01-01T00:00:00.000Z' }

describe('collection patterns', () => {
  it.each(['app.bsky.feed.post', 'app.bsky.graph.*', 'com.example.*', 'app.*', 'com.example-x.v2.fooBar', 'io.1example.thing'])('accepts %s', (pattern) => {
    expect(collectionPatternError(pattern)).toBeNull()
  })

  it.each([
    '',
    '*',
    '.*',
    'app.bsky',
    'app..bsky.post',
    'app.bsky.feed.post/',
    '1app.bsky.post',
    'app.bsky.*.post',
    'app.bsky.graph.**',
    'app.bsky.graph*',
    'app.bsky.feed.po-st',
    'app.bsky.feed.1post',
    '-app.bsky.post',
    'app.bsky-.post',
    'app.bsky.feed.post ',
    `app.${'a'.repeat(64)}.post`,
    `app.${'abc.'.repeat(80)}post`,
  ])('rejects %j with a reason', (pattern) => {
    expect(collectionPatternError(pattern)).toMatch(/collection|NSID|longer/)
  })

  it('event types: the four published ones only', () => {
    for (const type of ['commit', 'identity', 'account', 'sync']) expect(eventTypeError(type)).toBeNull()
    for (const type of ['info', '#commit', 'Commit', '']) expect(eventTypeError(type)).toMatch(/not an event type/)
  })

  it('library options: nothing given -> no filter; empty lists and bad values -> INGESTOR_INVALID_OPTION', () => {
    expect(eventFilterSpec(undefined, undefined)).toBeNull()
    expect(eventFilterSpec(['app.bsky.feed.post', 'app.bsky.feed.post'], undefined)).toEqual({ collections: ['app.bsky.feed.post'], types: null })
    expect(eventFilterSpec(undefined, ['commit'])).toEqual({ collections: null, types: ['commit'] })
    expect(() => eventFilterSpec([], undefined)).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_OPTION', message: expect.stringMatching(/collections must list/) }))
    expect(() => eventFilterSpec(undefined, [])).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_OPTION' }))
    expect(() => eventFilterSpec(['app.bsky'], undefined)).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_OPTION', message: expect.stringMatching(/"app.bsky"/) }))
    expect(() => eventFilterSpec(undefined, ['info'])).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_OPTION', message: expect.stringMatching(/types/) }))
  })
})

describe('EventFilter', () => {
  it('keeps the matching ops of a commit, in order, every other field as it was', () => {
    const filter = new EventFilter({ collections: ['app.bsky.feed.post', 'app.bsky.graph.*'], types: null })
    const { event, removedOps } = filter.apply(COMMIT)
    expect(removedOps).toBe(2)
    expect(event).toEqual({ ...COMMIT, ops: [COMMIT.ops[0], COMMIT.ops[2], COMMIT.ops[4]] })
    expect(COMMIT.ops).toHaveLength(5) // the decoded event is not changed
  })

  it('a wildcard matches below its prefix only: app.bsky.graph.* is not app.bsky.graphx.* nor app.bsky.graph', () => {
    const filter = new EventFilter({ collections: ['app.bsky.graph.*'], types: null })
    expect(filter.keepsPath('app.bsky.graph.follow/3')).toBe(true)
    expect(filter.keepsPath('app.bsky.graph.list.item/3')).toBe(true)
    expect(filter.keepsPath('app.bsky.graphx.thing/4')).toBe(false)
    expect(filter.keepsPath('app.bsky.graph/5')).toBe(false)
    expect(filter.keepsPath('')).toBe(false)
  })

  it('an exact NSID matches that collection only, also for a path without an rkey', () => {
    const filter = new EventFilter({ collections: ['app.bsky.feed.post'], types: null })
    expect(filter.keepsPath('app.bsky.feed.post/1')).toBe(true)
    expect(filter.keepsPath('app.bsky.feed.post')).toBe(true)
    expect(filter.keepsPath('app.bsky.feed.postgate/1')).toBe(false)
  })

  it('a commit with no matching op left is not published; the removed ops are counted', () => {
    const filter = new EventFilter({ collections: ['app.bsky.actor.profile'], types: null })
    expect(filter.apply(COMMIT)).toEqual({ event: null, removedOps: 5 })
    expect(filter.apply({ ...COMMIT, ops: [] })).toEqual({ event: null, removedOps: 0 })
  })

  it('--collections leaves other event types alone; --types drops them whole', () => {
    expect(new EventFilter({ collections: ['app.bsky.feed.post'], types: null }).apply(IDENTITY)).toEqual({ event: IDENTITY, removedOps: 0 })
    expect(new EventFilter({ collections: null, types: ['commit'] }).apply(IDENTITY)).toEqual({ event: null, removedOps: 0 })
    const commitsOnly = new EventFilter({ collections: null, types: ['commit'] }).apply(COMMIT)
    expect(commitsOnly.event).toBe(COMMIT)
    expect(new EventFilter({ collections: ['app.bsky.feed.post'], types: ['identity'] }).apply(COMMIT)).toEqual({ event: null, removedOps: 0 })
  })
})

describe('filtering in the decoder', () => {
  it('real frames: kept entries are toStreamEntry of the filtered event, byte for byte; the rest are `filtered` with their seq and removed ops', () => {
    const frames = allRealFrames().map((f) => f.bytes)
    const spec = { collections: ['app.bsky.feed.post', 'app.bsky.graph.*'], types: ['commit' as const, 'identity' as const] }
    const results = decodeInline(frames, { verifyBlocks: 'all', filter: spec })
    const counts = { entry: 0, filtered: 0, removedOps: 0 }
    results.forEach((result, i) => {
      const event = decodeEvent(frames[i]!)
      if (!isSequenced(event)) {
        expect(result.kind, `frame ${i}`).not.toBe('entry')
        return
      }
      // Independent of EventFilter: the expected outcome written out by hand.
      const keepOp = (path: string): boolean => path.startsWith('app.bsky.feed.post/') || path.startsWith('app.bsky.graph.')
      const typeKept = event.type === 'commit' || event.type === 'identity'
      const ops = event.type === 'commit' ? event.ops.filter((o) => keepOp(o.path)) : []
      const removed = event.type === 'commit' && typeKept ? event.ops.length - ops.length : 0
      counts.removedOps += removed
      if (!typeKept || (event.type === 'commit' && ops.length === 0)) {
        counts.filtered++
        expect(result, `frame ${i}`).toEqual({ kind: 'filtered', seq: event.seq, ops: removed })
        return
      }
      counts.entry++
      if (result.kind !== 'entry') throw new Error(`frame ${i}: expected an entry, got ${result.kind}`)
      const want = toStreamEntry(event.type === 'commit' ? { ...event, ops } : event)
      expect(result.entry.dataBytes.equals(Buffer.from(want.data, 'utf8')), `frame ${i}`).toBe(true)
      expect(result.filteredOps ?? 0).toBe(removed)
    })
    expect(counts.entry).toBeGreaterThan(0)
    expect(counts.filtered).toBeGreaterThan(0)
    expect(counts.removedOps).toBeGreaterThan(0)
  })
})
