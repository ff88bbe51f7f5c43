import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { ConsumerError } from '../../consumer/errors.js'
import { parseEntry } from '../../consumer/events.js'
import { pageSize, resolveConsumerOptions } from '../../consumer/options.js'
import { decodeEvent } from '../../protocol/events.js'
import { openFixture } from '../../fixture-file/index.js'
import { entryFields, isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'

const FIXTURE = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname

describe('consumer options', () => {
  it('fills the documented defaults', () => {
    const options = resolveConsumerOptions({ redis: 'redis://127.0.0.1:6379' })
    expect(options).toMatchObject({ stream: 'firehose:events', group: 'firehose-processors', deadLetterStream: 'firehose:events:dead-consumer', count: 100, maxInFlight: 1, maxDeliveries: 5 })
    expect(resolveConsumerOptions({ redis: 'redis://h', stream: 's' }).deadLetterStream).toBe('s:dead-consumer')
  })

  it.each([
    [{ redis: 'http://h' }, 'redis'],
    [{ redis: 'redis://h', count: 0 }, 'count'],
    [{ redis: 'redis://h', count: 1.5 }, 'count'],
    [{ redis: 'redis://h', count: 10, maxInFlight: 11 }, 'maxInFlight'],
    [{ redis: 'redis://h', blockMs: 0 }, 'blockMs'],
    [{ redis: 'redis://h', maxDeliveries: -1 }, 'maxDeliveries'],
    [{ redis: 'redis://h', consumer: '' }, 'consumer'],
    [{ redis: 'redis://h', shard: { index: 4, count: 4 } }, 'shard'],
    [{ redis: 'redis://h', shard: { index: -1, count: 2 } }, 'shard'],
    [{ redis: 'redis://h', shard: { index: 0, count: 0 } }, 'shard'],
    [{ redis: 'redis://h', shard: { index: 0.5, count: 2 } }, 'shard'],
    [{ redis: 'redis://h', shard: 2 }, 'shard'],
    [{ redis: 'redis://h', cluster: 'yes' }, 'cluster'],
    [{ redis: ['redis://a', 'redis://b'] }, 'cluster'],
    [{ redis: [], cluster: true }, 'redis'],
    [{ redis: ['redis://a', 'http://b'], cluster: true }, 'redis'],
    [{ redis: 'redis://h', stream: 'a{b}', shard: { index: 0, count: 2 } }, 'stream'],
    [{ redis: 'redis://h', stream: 'a{b}', cluster: true }, 'stream'],
  ])('rejects %j with CONSUMER_BAD_OPTION naming %s', (options, option) => {
    const err = (() => {
      try {
        resolveConsumerOptions(options as never)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(ConsumerError)
    expect(err).toMatchObject({ code: 'CONSUMER_BAD_OPTION', fields: { option } })
    expect((err as Error).message).toMatch(new RegExp(`^FirehoseConsumer option ${option} must be`))
  })

  it('reads shard i of n > 1 from `<stream>:<i>`, its dead letters in that stream slot', () => {
    expect(resolveConsumerOptions({ redis: 'redis://h', shard: { index: 2, count: 4 } })).toMatchObject({
      cluster: false,
      shard: { index: 2, count: 4 },
      stream: 'firehose:events:2',
      deadLetterStream: 'firehose:events:dead-consumer:{firehose:events:2}',
    })
    expect(resolveConsumerOptions({ redis: 'redis://h', stream: 's', shard: { index: 0, count: 1 } })).toMatchObject({ stream: 's', deadLetterStream: 's:dead-consumer' })
  })

  it('on a cluster keeps the unsharded stream name and tags its dead letters with it', () => {
    expect(resolveConsumerOptions({ redis: ['redis://a:7000', 'redis://b:7001'], cluster: true })).toMatchObject({
      cluster: true,
      stream: 'firehose:events',
      deadLetterStream: 'firehose:events:dead-consumer:{firehose:events}',
    })
  })

  it('refuses a deadLetterStream outside the stream slot on a cluster only (one server has no slots)', () => {
    const options = { redis: 'redis://h', shard: { index: 1, count: 2 }, deadLetterStream: 'elsewhere' }
    expect(resolveConsumerOptions(options).deadLetterStream).toBe('elsewhere')
    expect(() => resolveConsumerOptions({ ...options, cluster: true })).toThrow(
      expect.objectContaining({ code: 'CONSUMER_DEAD_LETTER_SLOT', fields: expect.objectContaining({ stream: 'firehose:events:1', suggested: 'elsewhere:{firehose:events:1}' }) }),
    )
    expect(resolveConsumerOptions({ ...options, cluster: true, deadLetterStream: 'mine:{firehose:events:1}' }).deadLetterStream).toBe('mine:{firehose:events:1}')
  })

  it('takes cluster from an ioredis client and refuses a contradicting flag', () => {
    const client = new Redis({ lazyConnect: true })
    try {
      expect(resolveConsumerOptions({ redis: client }).cluster).toBe(false)
      expect(() => resolveConsumerOptions({ redis: client, cluster: true })).toThrow(expect.objectContaining({ code: 'CONSUMER_BAD_OPTION', fields: { option: 'cluster', value: true } }))
    } finally {
      client.disconnect()
    }
  })

  it('clamps a per-call count to 1..max (Redis reads COUNT 0 as no limit)', () => {
    expect([pageSize(0, 100, 10), pageSize(2.7, 100, 10), pageSize(5000, 100, 10), pageSize(Number.NaN, 100, 10)]).toEqual([1, 2, 100, 10])
  })

  it('never shows a URL password in the error', () => {
    expect(() => resolveConsumerOptions({ redis: 'http://user:secret@h' })).toThrow(/\*\*\*/)
    expect(() => resolveConsumerOptions({ redis: 'http://user:secret@h' })).not.toThrow(/secret/)
    expect(() => resolveConsumerOptions({ redis: ['redis://a', 'http://user:secret@h'], cluster: true })).toThrow(/\*\*\*/)
    expect(() => resolveConsumerOptions({ redis: ['redis://a', 'http://user:secret@h'], cluster: true })).not.toThrow(/secret/)
  })
})

describe('parseEntry on the entries the ingestor writes', () => {
  it("tells the legacy consumer's entries (no `time`, no records) from ours: format 'legacy', delivered, not malformed", () => {
    const commit = parseEntry('1-0', ['type', 'commit', 'data', JSON.stringify({ repo: 'did:plc:a', ops: [{ action: 'create', path: 'app.bsky.feed.post/3k' }] }), 'seq', '7'], 1)
    expect(commit).toEqual({ kind: 'event', event: { type: 'commit', seq: 7, format: 'legacy', data: { repo: 'did:plc:a', ops: [{ action: 'create', path: 'app.bsky.feed.post/3k' }] }, messageId: '1-0', deliveries: 1 } })
    for (const [type, data] of [
      ['identity', { did: 'did:plc:a', handle: 'a.test' }],
      ['account', { did: 'did:plc:a', active: true }],
    ] as const) {
      expect(parseEntry('1-1', ['type', type, 'data', JSON.stringify(data), 'seq', '8'], 1)).toMatchObject({ kind: 'event', event: { type, format: 'legacy', data } })
    }
  })

  it('types every entry of the committed fixture, data equal to what was written', async () => {
    const reader = await openFixture(FIXTURE)
    const types = new Set<string>()
    let count = 0
    try {
      for await (const frame of reader.frames()) {
        const event = decodeEvent(frame.bytes)
        if (!isSequenced(event)) continue
        const entry = toStreamEntry(event)
        const parsed = parseEntry(`1-${count}`, entryFields(entry), 1)
        expect(parsed).toEqual({ kind: 'event', event: { type: entry.type, seq: entry.seq, data: JSON.parse(entry.data), format: 'firehose', messageId: `1-${count}`, deliveries: 1 } })
        types.add(entry.type)
        if (++count === 500) break
      }
    } finally {
      await reader.close()
    }
    expect(count).toBe(500)
    expect(types).toContain('commit')
  })

  it.each([
    [['type', 'commit', 'data', '{}'], 'fields type, data and seq are not all present'],
    [['type', 'commit', 'data', '[]', 'seq', '1'], 'data is not a JSON object'],
    [['type', 'commit', 'data', '{"repo":"did:x"}', 'seq', '1'], 'commit data has no valid `ops`'],
    [['type', 'account', 'data', '{"did":7}', 'seq', '1'], 'account data has no valid `did`'],
    [['type', 'identity', 'data', '{"did":"d"}', 'seq', '-1'], 'seq "-1" is not an integer'],
    [['type', 'identity', 'data', '{"did":"d"}', 'seq', '99999999999999999'], 'seq "99999999999999999" is not an integer'],
  ])('calls %j malformed: %s', (fields, reason) => {
    expect(parseEntry('1-0', fields, 1)).toEqual({ kind: 'malformed', reason })
  })

  it('reports a type it does not know instead of guessing', () => {
    expect(parseEntry('1-0', ['type', 'labels', 'data', '{}', 'seq', '1'], 1)).toEqual({ kind: 'unknown-type', type: 'labels' })
  })
})
