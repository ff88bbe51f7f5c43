import { createHash } from 'node:crypto'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { cidToString } from '../../protocol/data-model.js'
import { RepoSyncError } from '../../repo-sync/errors.js'
import { STATUS_CODES, decodeRepoState, encodeRepoState } from '../../repo-sync/repo-state-codec.js'
import type { RepoState, SyncState } from '../../repo-sync/types.js'
import { cidOf, tidAt } from './helpers.js'

const SEED = 41
const SYNC_STATES: SyncState[] = ['synchronized', 'desynchronized', 'resyncing']
const REV = '3lmxjza3nva27'
const DATA = 'bafyreietxwypby6yfj6ncv64dvih4iyr2jqdqxqfx4ztmbdqxgrsmaw2fe'

/** CIDs that are not the usual MST-root form: stored long. */
function unusualCids(label: string): string[] {
  const digest = createHash('sha256').update(label).digest()
  return [
    cidToString(CID.createV1(0x55, Digest.create(0x12, digest))), // raw codec
    cidToString(CID.createV1(0x71, Digest.create(0x13, createHash('sha512').update(label).digest()))), // sha2-512
    cidToString(CID.createV0(Digest.create(0x12, digest))), // CIDv0, base58 "Qm..."
  ]
}

function randomState(random: SeededRandom): RepoState {
  const sync = random.pick(SYNC_STATES)
  const status = random.bool(0.8) ? random.pick(STATUS_CODES) : random.pick(['pending-review', 'a', 'é'.repeat(32), 'x'.repeat(64)])
  if (random.bool(0.1)) return { rev: '', data: '', status, sync }
  const label = String(random.uint32())
  const data = random.bool(0.8) ? cidOf(label) : random.pick(unusualCids(label))
  const rev = tidAt(random.int(0, 2 ** 40), random.int(0, 1023))
  return sync === 'synchronized' && random.bool(0.5) ? { rev, data, status, sync, whole: true } : { rev, data, status, sync }
}

describe('a state is stored in a few bytes, so 40M DIDs fit (41 bytes with a chain, 1 without)', () => {
  it('round-trips 3,000 seeded states (every sync state, status and CID form)', () => {
    const random = new SeededRandom(SEED)
    for (let i = 0; i < 3000; i++) {
      const state = randomState(random)
      expect(decodeRepoState(encodeRepoState(state)), `seed ${SEED}, state ${i}`).toEqual(state)
    }
  })

  it('takes 41 bytes for any chain with a known status (under the 64 of a listpack hash value), 1 byte without a chain', () => {
    for (const sync of SYNC_STATES) {
      for (const status of STATUS_CODES) {
        expect(encodeRepoState({ rev: REV, data: DATA, status, sync }).length).toBe(41)
        expect(encodeRepoState({ rev: '', data: '', status, sync }).length).toBe(1)
      }
    }
    expect(encodeRepoState({ rev: REV, data: DATA, status: 'pending-review', sync: 'synchronized' }).length).toBe(41 + 'pending-review'.length)
  })

  it('keeps its layout (stored values outlive the code: changing a code changes what they mean)', () => {
    const value = encodeRepoState({ rev: REV, data: DATA, status: 'deactivated', sync: 'resyncing' })
    // header 0b10_0100_1_1: resyncing, status 4, chain, short CID; then the rev's 64 bits; then the sha2-256 digest.
    expect(value.subarray(0, 1).toString('hex')).toBe('93')
    const revValue = [...REV].reduce((value, char) => value * 32n + BigInt('234567abcdefghijklmnopqrstuvwxyz'.indexOf(char)), 0n)
    expect(value.subarray(1, 9).toString('hex')).toBe(revValue.toString(16).padStart(16, '0'))
    expect(value.subarray(9).equals(Buffer.from(CID.parse(DATA).multihash.digest))).toBe(true)
    expect(STATUS_CODES).toEqual(['active', 'takendown', 'suspended', 'deleted', 'deactivated', 'desynchronized', 'throttled', 'inactive'])
    // Sync code 3: synchronized and whole (published whole by a snapshot since).
    expect(encodeRepoState({ rev: REV, data: DATA, status: 'active', sync: 'synchronized', whole: true })[0]!.toString(2)).toBe('11000011')
  })

  it('whole is for a synchronized repo with a chain (a snapshot always gives one): the encoder refuses it elsewhere', () => {
    expect(() => encodeRepoState({ rev: REV, data: DATA, status: 'active', sync: 'desynchronized', whole: true })).toThrow(/whole is for a synchronized repo/)
    expect(() => encodeRepoState({ rev: '', data: '', status: 'active', sync: 'synchronized', whole: true })).toThrow(/whole without a chain/)
  })
})

describe('the decoder refuses anything the encoder does not write, saying what is wrong (REPO_SYNC_BAD_STATE)', () => {
  const good = encodeRepoState({ rev: REV, data: DATA, status: 'active', sync: 'synchronized' })
  const long = encodeRepoState({ rev: REV, data: unusualCids('x')[0]!, status: 'active', sync: 'synchronized' })
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /empty value/],
    ['whole without a chain', Uint8Array.of(0xc0), /whole without a chain/],
    ['an unknown status code', Uint8Array.of(0b0010_0000), /status code 8 is unknown/],
    ['the short flag without a chain', Uint8Array.of(0b01), /short CID flag without a chain/],
    ['a rev cut off', good.subarray(0, 5), /truncated: a rev/],
    ['a digest cut off', good.subarray(0, 30), /truncated: a digest/],
    ['a byte after the end', Buffer.concat([good, Uint8Array.of(0)]), /1 bytes after the end/],
    ['a long CID cut off', long.subarray(0, long.length - 1), /cut off/],
    ['a long CID that is not a CID', Buffer.concat([long.subarray(0, 9), Uint8Array.of(3, 9, 9, 9)]), /are not a CID/],
    // Found by the garbage test below: CID.decode reads a version byte of 0 here, and the CID would encode back as 1.
    ['a long CID not in its canonical binary form', Buffer.concat([long.subarray(0, 10), Uint8Array.of(0x00), long.subarray(11)]), /canonical binary form/],
    ['the usual CID stored long', Buffer.concat([Uint8Array.of(0b10), good.subarray(1, 9), Uint8Array.of(36, 0x01, 0x71, 0x12, 0x20), good.subarray(9)]), /short form's prefix but is stored long/],
    ['an "other" status with no bytes', Uint8Array.of(0b0011_1100), /must be 1 to 64 bytes, got 0/],
    ['an "other" status that is not UTF-8', Uint8Array.of(0b0011_1100, 0xff), /not UTF-8/],
    ['an "other" status that has a code', Buffer.concat([Uint8Array.of(0b0011_1100), Buffer.from('active')]), /has a code and is spelled out/],
    ['an "other" status over 64 bytes', Buffer.concat([Uint8Array.of(0b0011_1100), Buffer.alloc(65, 0x61)]), /got 65/],
  ]
  it.each(cases)('%s', (_what, bytes, message) => {
    let caught: unknown
    try {
      decodeRepoState(bytes)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(RepoSyncError)
    expect(caught).toMatchObject({ code: 'REPO_SYNC_BAD_STATE', message: expect.stringMatching(message) })
  })

  it('on 10,000 seeded garbage values either throws REPO_SYNC_BAD_STATE or reads a state that encodes to the same bytes', () => {
    const random = new SeededRandom(SEED + 1)
    let decoded = 0
    for (let i = 0; i < 10_000; i++) {
      // Half are a real value with one byte changed (the likely corruption), half random bytes.
      let bytes: Buffer
      if (random.bool()) {
        bytes = Buffer.from(random.pick([good, long]))
        bytes[random.int(0, bytes.length - 1)] = random.int(0, 255)
      } else {
        bytes = Buffer.from(random.bytes(random.int(1, 80)))
      }
      let state: RepoState
      try {
        state = decodeRepoState(bytes)
      } catch (err) {
        expect(err, `seed ${SEED + 1}, value ${i} ${bytes.toString('hex')}`).toMatchObject({ code: 'REPO_SYNC_BAD_STATE' })
        continue
      }
      decoded++
      expect(encodeRepoState(state).equals(bytes), `seed ${SEED + 1}, value ${i} ${bytes.toString('hex')}`).toBe(true)
    }
    expect(decoded).toBeGreaterThan(100)
  })
})

describe('the encoder refuses a state the rules never make (REPO_SYNC_BAD_STATE)', () => {
  it.each<[string, RepoState, RegExp]>([
    ['a rev that is not a TID', { rev: '3lmxjza3nva00', data: DATA, status: 'active', sync: 'synchronized' }, /is not a TID/],
    ['a rev without data', { rev: REV, data: '', status: 'active', sync: 'synchronized' }, /is not a CID/],
    ['data that is not a CID', { rev: REV, data: 'bafy-not-a-cid', status: 'active', sync: 'synchronized' }, /is not a CID/],
    ['a CID not in its canonical string', { rev: REV, data: CID.parse(DATA).toString(base36), status: 'active', sync: 'synchronized' }, /canonical string/],
    ['a status over 64 bytes', { rev: REV, data: DATA, status: 'x'.repeat(65), sync: 'synchronized' }, /1 to 64 bytes, got 65/],
    ['an unknown sync state', { rev: REV, data: DATA, status: 'active', sync: 'paused' as SyncState }, /sync state "paused"/],
  ])('%s', (_what, state, message) => {
    expect(() => encodeRepoState(state)).toThrow(expect.objectContaining({ code: 'REPO_SYNC_BAD_STATE', message: expect.stringMatching(message) }))
  })
})
