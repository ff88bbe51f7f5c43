import type { Keypair } from '@atproto/crypto'
import type { Logger } from '../common/logger.js'
import type { SeededRandom } from '../common/random.js'
import type { FaultSpec } from './faults.js'
import type { RepoBook, RepoEntry } from './repo-book.js'
import { syncFrame } from './repo-fault-frames.js'

/** Loaded with the first reset: @atproto/repo and @atproto/crypto cost every replay start otherwise. */
type ResetModule = typeof import('./repo-reset.js')

/** sync-storm's default repo count (bounded by the repos the replay can reset). */
export const DEFAULT_STORM_REPOS = 1_000
/** Applied resets kept for status; older ones are forgotten. */
const MAX_RECORDS = 1_000

/** A repo a sync-reset or sync-storm reset, for status. */
export interface RepoResetRecord {
  kind: 'sync-reset' | 'sync-storm'
  did: string
  /** The reset's rev: the #sync frame's, and getRepo's from then on (until the repo's next commit). */
  rev: string
  /** Records the reset removed. */
  removed: number
  /** Frames the timeline had published when the fault fired. */
  atFrame: number
}

export interface RepoResetsParts {
  repos: RepoBook
  /** The timeline publishes nothing more until `work` settles (timeline.ts hold). */
  hold: (work: Promise<unknown>) => void
  /** Sends the #sync frames to the fault's clients (hub.ts armFault). */
  send: (spec: FaultSpec, applyAt: number | undefined, frames: readonly Uint8Array[]) => void
  /** The private key a DID's commits are signed with (ReplayOptions.signingKeys); undefined when unknown. */
  signingKey: (did: string) => Uint8Array | undefined
  framesPublished: () => number
  random: SeededRandom
  logger: Logger
}

/**
 * sync-reset and sync-storm (docs/replay.md "Faults"): a fault resets its repos at the PDS (the
 * repo book serves each as reset from then on: repo-reset.ts), then sends each targeted client a
 * #sync frame announcing the new commit. The timeline holds meanwhile, so the reset sits between
 * two frames of the fixture. Repos are reset one after another, faults in the order they fired.
 * A DID whose key the replay is not given is signed with a seeded key of the replay's own: its
 * signature does not verify against the DID document (fine for ingestors without --verify).
 */
export class RepoResets {
  private records: RepoResetRecord[] = []
  private queue: Promise<void> = Promise.resolve()
  private ownKey: Promise<Keypair> | null = null
  private module: Promise<ResetModule> | null = null

  constructor(private readonly parts: RepoResetsParts) {}

  fire(spec: FaultSpec & { kind: 'sync-reset' | 'sync-storm' }, applyAt: number | undefined): void {
    const atFrame = this.parts.framesPublished()
    const work = this.queue.then(async () => this.parts.send(spec, applyAt, await this.resetAll(spec, atFrame)))
    this.queue = work.catch((err: unknown) => this.parts.logger.error({ err, fault: spec }, 'repo reset fault failed'))
    this.parts.hold(this.queue)
  }

  applied(): RepoResetRecord[] {
    return [...this.records]
  }

  /** sync-reset: its DID; sync-storm: the first `count` repos (creation order) that are active and exportable. */
  private targets(spec: FaultSpec): RepoEntry[] {
    if (spec.kind === 'sync-reset') {
      const repo = this.parts.repos.get(spec.did!)
      return repo === undefined ? [] : [repo]
    }
    const count = spec.count ?? DEFAULT_STORM_REPOS
    const out: RepoEntry[] = []
    for (const repo of this.parts.repos.createdFrom(0)) {
      if (out.length >= count) break
      if (repo.active && repo.unexportable === null) out.push(repo)
    }
    return out
  }

  private async resetAll(spec: FaultSpec & { kind: 'sync-reset' | 'sync-storm' }, atFrame: number): Promise<Uint8Array[]> {
    const frames: Uint8Array[] = []
    const { resetRepo, importKey } = await (this.module ??= import('./repo-reset.js'))
    const targets = this.targets(spec)
    if (targets.length === 0) this.parts.logger.warn({ fault: spec }, 'repo reset fault: no repo to reset (unknown DID, or none exportable yet)')
    for (const repo of targets) {
      if (repo.head === null || !repo.active) {
        this.parts.logger.warn({ did: repo.did, active: repo.active }, 'sync-reset: the repo has no commit yet or is inactive; not reset')
        continue
      }
      try {
        const reset = await resetRepo(repo, await this.keyOf(repo.did, importKey), this.parts.random, spec.removeRecords)
        this.parts.repos.reset(repo, reset.car, reset.head)
        frames.push(syncFrame(repo.did, reset.head.rev, reset.commitCar))
        this.records.push({ kind: spec.kind, did: repo.did, rev: reset.head.rev, removed: reset.removed.length, atFrame })
        if (this.records.length > MAX_RECORDS) this.records = this.records.slice(-MAX_RECORDS)
      } catch (err) {
        this.parts.logger.warn({ did: repo.did, err }, 'sync-reset: the repo cannot be reset (the replay cannot export it); not reset')
      }
    }
    this.parts.logger.info({ kind: spec.kind, repos: frames.length, atFrame }, 'repos reset; #sync frames sent')
    return frames
  }

  private keyOf(did: string, importKey: ResetModule['importKey']): Promise<Keypair> {
    const key = this.parts.signingKey(did)
    if (key !== undefined) return importKey(key)
    this.ownKey ??= importKey(this.parts.random.bytes(32))
    return this.ownKey
  }
}
