import { describe, expect, it } from 'vitest'
import { encodeFrame } from '../../protocol/frame.js'
import { Continuity } from '../../recorder/continuity.js'

const commit = (seq: number): Uint8Array => encodeFrame({ op: 1, t: '#commit' }, { seq, repo: 'did:plc:x' })
const info = (name: string): Uint8Array => encodeFrame({ op: 1, t: '#info' }, { name })
const error = (name: string): Uint8Array => encodeFrame({ op: -1 }, { error: name })

describe('Continuity', () => {
  it('resumes from the highest recorded seq, else the initial cursor', () => {
    const c = new Continuity(41)
    expect(c.resumeCursor()).toBe(41)
    c.onOpen(41)
    expect(c.observe(commit(42))).toEqual({ record: true, seq: 42, gap: null })
    expect(c.resumeCursor()).toBe(42)
  })

  it('skips frames at or below the cursor asked on this connection, and declares a gap when the first seq jumps', () => {
    const c = new Continuity(null)
    c.onOpen(null)
    c.observe(commit(1))
    c.observe(commit(2))
    c.onOpen(2)
    expect(c.observe(commit(2))).toEqual({ record: false, seq: 2 })
    expect(c.observe(commit(5))).toEqual({ record: true, seq: 5, gap: { afterSeq: 2, beforeSeq: 5, note: 'asked for events after 2, first seq was 5' } })
    expect(c.counts.duplicatesSkipped).toBe(1)
  })

  it('counts holes and regressions inside a connection without declaring gaps', () => {
    const c = new Continuity(null)
    c.onOpen(null)
    for (const seq of [10, 11, 15, 14, 16]) expect(c.observe(commit(seq))).toMatchObject({ record: true, gap: null })
    expect(c.counts).toMatchObject({ seqJumps: 1, seqRegressions: 1 })
    expect(c.seq).toBe(16)
  })

  it('records info, error and unreadable frames; OutdatedCursor annotates the gap; FutureCursor makes the next connection live', () => {
    const c = new Continuity(100)
    c.onOpen(100)
    expect(c.observe(info('OutdatedCursor'))).toEqual({ record: true, seq: undefined, gap: null, control: { kind: 'info', name: 'OutdatedCursor' } })
    expect(c.observe(commit(500)).record && c.observe(commit(501)).record).toBe(true)
    const again = new Continuity(100)
    again.onOpen(100)
    again.observe(info('OutdatedCursor'))
    expect(again.observe(commit(500))).toMatchObject({ gap: { afterSeq: 100, beforeSeq: 500, note: expect.stringContaining('OutdatedCursor') } })
    expect(again.observe(Uint8Array.of(0xff, 0x00))).toEqual({ record: true, seq: undefined, gap: null })
    expect(again.observe(error('FutureCursor'))).toEqual({ record: true, seq: undefined, gap: null, control: { kind: 'error', name: 'FutureCursor' } })
    expect(again.resumeCursor()).toBeNull()
    again.onOpen(null)
    expect(again.observe(commit(20))).toMatchObject({ gap: { afterSeq: 500, beforeSeq: 20, note: expect.stringContaining('FutureCursor') } })
    // The relay's seq space restarted: resume in the new one.
    expect(again.resumeCursor()).toBe(20)
    expect(again.counts).toMatchObject({ unreadable: 1, outdatedCursor: 1, errorFrames: { FutureCursor: 1 } })
  })

  it("cursor 0 asks from the relay's start: its first seq is no gap, even after OutdatedCursor; a reconnect is checked as before", () => {
    const c = new Continuity(0)
    c.onOpen(c.resumeCursor())
    expect(c.observe(commit(20_000_000_001))).toEqual({ record: true, seq: 20_000_000_001, gap: null })
    c.observe(commit(20_000_000_002))
    c.onOpen(c.resumeCursor())
    expect(c.observe(commit(20_000_000_009))).toMatchObject({ gap: { afterSeq: 20_000_000_002, beforeSeq: 20_000_000_009 } })
    const evicted = new Continuity(0)
    evicted.onOpen(0)
    evicted.observe(info('OutdatedCursor'))
    expect(evicted.observe(commit(701))).toEqual({ record: true, seq: 701, gap: null })
    expect(evicted.counts.outdatedCursor).toBe(1)
    // A cursor above 0 still names a seq the recording wants to follow on from.
    const resumed = new Continuity(1)
    resumed.onOpen(1)
    expect(resumed.observe(commit(3))).toMatchObject({ gap: { afterSeq: 1, beforeSeq: 3 } })
  })

  it('hands info and error frames back with their name and message for the log', () => {
    const c = new Continuity(null)
    c.onOpen(null)
    const finished = encodeFrame({ op: 1, t: '#info' }, { name: 'ReplayFinished', message: 'reconnect with cursor=0' })
    expect(c.observe(finished)).toEqual({ record: true, seq: undefined, gap: null, control: { kind: 'info', name: 'ReplayFinished', message: 'reconnect with cursor=0' } })
    expect(c.observe(encodeFrame({ op: -1 }, { message: 'no name' }))).toMatchObject({ control: { kind: 'error', name: 'unknown', message: 'no name' } })
    expect(c.observe(commit(1))).not.toHaveProperty('control')
  })
})
