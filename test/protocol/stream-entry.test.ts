import { describe, expect, it } from 'vitest'
import type { CommitEvent, FirehoseEvent, SequencedEvent } from '../../protocol/events.js'
import { decodeEvent } from '../../protocol/events.js'
import { entryFields, isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { allRealFrames } from './helpers.js'

const commit: CommitEvent = {
  type: 'commit',
  seq: 35942466,
  repo: 'did:plc:44ybard66vv44zksje25o7dz',
  rev: '3lmxjzbfkb522',
  since: '3lmxjza3nva27',
  commit: 'bafyreietxwypby6yfj6ncv64dvih4iyr2jqdqxqfx4ztmbdqxgrsmaw2fe',
  time: '2025-04-16T21:30:28.094Z',
  tooBig: false,
  rebase: false,
  blobs: [],
  prevData: null,
  data: null,
  ops: [{ action: 'delete', path: 'app.bsky.feed.like/3lmxjza3h2i27', cid: null, record: null }],
}

describe('entryFields', () => {
  it('lists fields in the contract order type, data, seq (legacy readers use positions 1, 3, 5)', () => {
    const fields = entryFields({ type: 'identity', seq: 7, data: '{"did":"did:plc:x"}' })
    expect(fields).toEqual(['type', 'identity', 'data', '{"did":"did:plc:x"}', 'seq', '7'])
    expect([fields[1], JSON.parse(fields[3]), fields[5]]).toEqual(['identity', { did: 'did:plc:x' }, '7'])
  })
})

describe('toStreamEntry', () => {
  it('commit: data has repo and ops first (as the legacy producer wrote them) plus rev, commit, time, since, prevData, tooBig, blobs, seq', () => {
    const entry = toStreamEntry(commit)
    expect(entry.type).toBe('commit')
    expect(entry.seq).toBe(35942466)
    const data = JSON.parse(entry.data) as Record<string, unknown>
    expect(Object.keys(data)).toEqual(['repo', 'ops', 'rev', 'commit', 'time', 'since', 'prevData', 'tooBig', 'blobs', 'seq'])
    expect(data).toMatchObject({ repo: commit.repo, ops: commit.ops, seq: 35942466, since: '3lmxjza3nva27' })
  })

  it('identity, account and sync entries carry their fields and seq', () => {
    const identity: SequencedEvent = { type: 'identity', seq: 1, did: 'did:plc:a', handle: null, time: 't1' }
    expect(toStreamEntry(identity)).toEqual({ type: 'identity', seq: 1, data: '{"did":"did:plc:a","handle":null,"seq":1,"time":"t1"}' })
    const account: SequencedEvent = { type: 'account', seq: 2, did: 'did:plc:a', active: false, status: 'takendown', time: 't2' }
    expect(toStreamEntry(account)).toEqual({
      type: 'account',
      seq: 2,
      data: '{"did":"did:plc:a","active":false,"status":"takendown","seq":2,"time":"t2"}',
    })
    const sync: SequencedEvent = { type: 'sync', seq: 3, did: 'did:plc:a', rev: 'r', commit: 'bafy', data: null, time: 't3' }
    expect(toStreamEntry(sync)).toEqual({ type: 'sync', seq: 3, data: '{"did":"did:plc:a","rev":"r","commit":"bafy","seq":3,"time":"t3"}' })
  })

  it('only commit, identity, account and sync are sequenced (published)', () => {
    const others: FirehoseEvent[] = [
      { type: 'info', name: 'OutdatedCursor', message: null },
      { type: 'error', error: 'FutureCursor', message: null },
      { type: 'unknown', t: '#handle', seq: 5 },
    ]
    for (const event of others) expect(isSequenced(event)).toBe(false)
    expect(isSequenced(commit)).toBe(true)
  })

  it('every real frame maps to an entry whose data is JSON with the same seq', () => {
    for (const { name, bytes } of allRealFrames()) {
      const event = decodeEvent(bytes)
      expect(isSequenced(event), name).toBe(true)
      if (!isSequenced(event)) continue
      const entry = toStreamEntry(event)
      expect(entry.type, name).toBe(event.type)
      expect((JSON.parse(entry.data) as { seq: number }).seq, name).toBe(event.seq)
      expect(entryFields(entry)[5], name).toBe(String(event.seq))
    }
  })
})
