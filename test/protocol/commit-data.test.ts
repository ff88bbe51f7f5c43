import { existsSync } from 'node:fs'
import { CarReader } from '@ipld/car/reader'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { openFixture } from '../../fixture-file/index.js'
import { decodeEvent } from '../../protocol/events.js'
import { decodeFrame } from '../../protocol/frame.js'
import { NO_COMMITTED_FIXTURE, skipTest } from '../support/skip.js'
import { allRealFrames } from './helpers.js'

const COMMITTED_FIXTURE = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname

/**
 * The MST root a frame's commit block names, read with the IPLD reference libraries (not our
 * codec): the oracle for `data` on decoded #commit and #sync events. Null when the CAR has no
 * such block or it names no root.
 */
async function independentData(bytes: Uint8Array, commit: string): Promise<string | null> {
  const { body } = decodeFrame(bytes)
  const reader = await CarReader.fromBytes(body.blocks as Uint8Array)
  const block = await reader.get(CID.parse(commit))
  if (block === undefined) return null
  const decoded = dagCbor.decode<Record<string, unknown>>(block.bytes)
  const data = CID.asCID(decoded.data)
  return data === null ? null : data.toString()
}

async function checkFrame(bytes: Uint8Array, name: string): Promise<number> {
  const event = decodeEvent(bytes)
  if (event.type !== 'commit' && event.type !== 'sync') return 0
  expect(event.data, name).toBe(await independentData(bytes, event.commit))
  return event.data === null ? 0 : 1
}

describe('#commit and #sync carry the MST root their commit block names (Sync 1.1: the next commit must name it as prevData)', () => {
  it('on every real network frame, as the IPLD reference libraries read it', async () => {
    let withData = 0
    for (const { name, bytes } of allRealFrames()) withData += await checkFrame(bytes, name)
    expect(withData).toBeGreaterThan(0)
  })

  it("on every frame of the committed fixture, and each commit's prevData is the previous commit's data of its repo", async (context) => {
    if (!existsSync(COMMITTED_FIXTURE)) skipTest(context, NO_COMMITTED_FIXTURE)
    const reader = await openFixture(COMMITTED_FIXTURE)
    const lastData = new Map<string, string>()
    let chained = 0
    try {
      for await (const { bytes } of reader.frames()) {
        await checkFrame(bytes, 'committed fixture')
        const event = decodeEvent(bytes)
        if (event.type === 'commit' && event.data !== null) {
          const previous = lastData.get(event.repo)
          if (previous !== undefined && event.prevData !== null) {
            expect(event.prevData).toBe(previous)
            chained++
          }
          lastData.set(event.repo, event.data)
        }
        if (event.type === 'sync' && event.data !== null) lastData.set(event.did, event.data)
      }
    } finally {
      await reader.close()
    }
    expect(chained).toBeGreaterThan(100)
  })
})
