import { openFixture } from '../fixture-file/index.js'
import { decodeEvent } from '../protocol/events.js'
import type { Repos } from './model-appview.js'

/**
 * The repositories a fixture's frames leave behind: every `#commit`'s ops applied in order to a
 * map per DID and path, straight from the decoded frames (no stream, no rules, nothing the model
 * AppView shares), which is what the PDSes hold at the end. The generator does not hand out its
 * final repositories, hence this rebuild. A repo's records from before the fixture starts
 * (the generator's pre-existing repos) are not in any frame and so not here (a delete of one
 * changes nothing), unless the fixture was generated from repo creation, whose first commit of
 * each repo creates them all.
 */
export class GroundTruth {
  private readonly repos: Repos = new Map()

  /** Applies one wire frame; frames other than `#commit` change no record. */
  add(bytes: Uint8Array): void {
    const event = decodeEvent(bytes)
    if (event.type !== 'commit') return
    let records = this.repos.get(event.repo)
    if (records === undefined) {
      records = new Map()
      this.repos.set(event.repo, records)
    }
    for (const op of event.ops) {
      if (op.action === 'delete') records.delete(op.path)
      else records.set(op.path, { cid: op.cid!, record: op.record })
    }
  }

  result(): Repos {
    return this.repos
  }
}

/** The final repositories of these frames (see GroundTruth). */
export function groundTruth(frames: Iterable<Uint8Array>): Repos {
  const truth = new GroundTruth()
  for (const bytes of frames) truth.add(bytes)
  return truth.result()
}

/** The final repositories of a fixture file, streamed in constant memory besides the result. */
export async function groundTruthOfFixture(path: string): Promise<Repos> {
  const truth = new GroundTruth()
  const reader = await openFixture(path)
  try {
    for await (const frame of reader.frames()) truth.add(frame.bytes)
  } finally {
    await reader.close()
  }
  return truth.result()
}

/**
 * The accounts whose last `#account` in these frames says not active: their PDS refuses getRepo,
 * so what a backfill or resync could not fetch for them is neither in the stream nor to be shown.
 */
export function inactiveAtEnd(frames: Iterable<Uint8Array>): Set<string> {
  const inactive = new Set<string>()
  for (const bytes of frames) {
    const event = decodeEvent(bytes)
    if (event.type !== 'account') continue
    if (event.active) inactive.delete(event.did)
    else inactive.add(event.did)
  }
  return inactive
}

/** `repos` without the DIDs of `inactive`. */
export function activeOnly(repos: Repos, inactive: ReadonlySet<string>): Repos {
  return new Map([...repos].filter(([did]) => !inactive.has(did)))
}
