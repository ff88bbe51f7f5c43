import { CID } from 'multiformats/cid'
import { LogAggregator } from '../common/log-aggregator.js'
import type { Logger } from '../common/logger.js'
import { readCar } from '../protocol/car.js'
import { CarBuilder } from '../protocol/car-writer.js'
import { FirehoseError } from '../common/firehose-error.js'
import type { SourceFrame } from './frame-source.js'
import { exportRepo, type RepoSource } from './repo-export.js'
import { readRepoFrame, type RepoFrame } from './repo-frame.js'

/** Repo block bytes kept alive only by the index (frames not held by the preload, compacted exports), at most (docs/replay.md). */
export const REPO_OWN_MAX_BYTES = 256 * 1024 * 1024
/** Repos indexed at most: each costs a few hundred bytes even without blocks (a long recording can name millions of DIDs). */
export const MAX_REPOS = 1_000_000

/** A repo's latest commit: its CID's bytes (a string only when asked: base32 costs more than indexing the frame) and rev. A new object per commit. */
export interface RepoHead {
  cid: Uint8Array
  rev: string
  text?: string
}

/** The head commit's CID as a string (computed once per head). */
export function headCid(head: RepoHead): string {
  head.text ??= CID.decode(head.cid).toString()
  return head.text
}

/** One repo as the frames published so far describe it. */
export interface RepoEntry {
  did: string
  /** Latest commit (from #commit, or the root of a #sync CAR); null while only #account/#identity frames named the DID. */
  head: RepoHead | null
  active: boolean
  /** The last #account status (`takendown`, `deactivated`, ...); null when active or none was given. */
  status: string | null
  /** Why getRepo cannot export this repo; null when `cars` hold it from its creation. */
  unexportable: string | null
  /** #commit/#sync CARs since the repo's creation commit (views into the frames), or one compacted export followed by later ones. */
  cars: Uint8Array[]
  /** Bytes only this entry keeps alive: the frames its `cars` are views into (when the preload does not hold them), or its compacted export. */
  ownBytes: number
}

export interface RepoBookOptions {
  /** Round-0 frames stay in memory for the whole run (preloaded fixtures): views into them cost nothing. */
  preloaded: boolean
  logger: Logger
  maxOwnBytes?: number
  maxRepos?: number
}

/**
 * Every repo of the frames the timeline has published, as a PDS would hold it at that moment:
 * head commit and rev, account status, and the blocks to export it (getRepo). Fed one frame at
 * a time on the publish path, where it only reads a few header and body fields (repo-frame.ts)
 * and keeps a view of the CAR: exports are built on request (repo-export.ts).
 *
 * A repo can be exported when the first commit published for it created it (`since` absent):
 * from then on every commit's CAR carries its new blocks. A repo first seen mid-history (the
 * fixture started after its creation; every recording of the live network) keeps only its head,
 * rev and status. Memory: views into frames that the preload holds anyway cost a pointer each;
 * frames nobody else holds (streamed fixtures, --loop rounds after the first) and compacted
 * exports count against `maxOwnBytes`. Overflow policy: past it, repos are compacted (each
 * replaced by one CAR of its live blocks, the garbage of old MST nodes and deleted records
 * dropped) largest first down to half the bound; if live repos alone exceed that, the largest
 * stop being exportable (getRepo answers RepoUnexportable, saying why). Past `maxRepos` DIDs,
 * new DIDs are not indexed (RepoNotFound), logged.
 */
export class RepoBook {
  private readonly repos = new Map<string, RepoEntry>()
  /** Repos with a head, in the order they got it: listRepos pages through this (never reordered, never shrinks). */
  private readonly created: RepoEntry[] = []
  private ownTotal = 0
  private unexportableCount = 0
  private readonly maxOwnBytes: number
  private readonly maxRepos: number
  private readonly warnings: LogAggregator

  constructor(private readonly options: RepoBookOptions) {
    this.maxOwnBytes = options.maxOwnBytes ?? REPO_OWN_MAX_BYTES
    this.maxRepos = options.maxRepos ?? MAX_REPOS
    this.warnings = new LogAggregator(options.logger, 'repo index warnings repeated')
  }

  get size(): number {
    return this.repos.size
  }

  /** Repo block bytes kept alive only by the index. */
  get ownBytes(): number {
    return this.ownTotal
  }

  get unexportable(): number {
    return this.unexportableCount
  }

  get(did: string): RepoEntry | undefined {
    return this.repos.get(did)
  }

  /** Repos with a head, in creation order, from position `from`. */
  createdFrom(from: number): readonly RepoEntry[] {
    return this.created.slice(from)
  }

  get createdCount(): number {
    return this.created.length
  }

  /** Indexes a frame the timeline just published. */
  published(frame: SourceFrame): void {
    const fields = readRepoFrame(frame.bytes)
    if (fields === null) return
    const repo = this.entry(fields.did)
    if (repo === undefined) return
    if (fields.t === '#account') {
      repo.active = fields.active
      repo.status = fields.active ? null : fields.status
      return
    }
    // A view keeps its whole frame alive: count the frame.
    const own = this.options.preloaded && frame.round === 0 ? 0 : frame.bytes.byteLength
    if (fields.t === '#commit') this.commit(repo, fields, own)
    else this.sync(repo, fields, own)
    if (this.ownTotal > this.maxOwnBytes) this.shed()
  }

  /**
   * The repo reset at the PDS (a sync-reset fault, repo-resets.ts): from now on its head is the
   * reset's commit, exported from `car` (the commit and the MST nodes it made) with the blocks it
   * already had. Its own bytes count like a compacted export's.
   */
  reset(repo: RepoEntry, car: Uint8Array, head: RepoHead): void {
    this.keep(repo, car, car.byteLength)
    this.setHead(repo, head.cid, head.rev)
    if (this.ownTotal > this.maxOwnBytes) this.shed()
  }

  close(): void {
    this.warnings.close()
  }

  private commit(repo: RepoEntry, frame: Extract<RepoFrame, { t: '#commit' }>, own: number): void {
    if (frame.since === null) {
      // A creation commit (again, on a --loop round or a re-created account): the repo starts over.
      this.forget(repo)
      this.setUnexportable(repo, null)
      this.keep(repo, frame.blocks, own)
    } else if (repo.head === null) {
      this.setUnexportable(repo, `its first frame in the fixture (seq ${frame.seq ?? '?'}) is a commit since rev ${frame.since}, not its creation: the fixture does not hold the blocks written before`)
    } else if (repo.unexportable === null) {
      this.keep(repo, frame.blocks, own)
    }
    this.setHead(repo, frame.commit, frame.rev)
  }

  private sync(repo: RepoEntry, frame: Extract<RepoFrame, { t: '#sync' }>, own: number): void {
    const root = readCar(frame.blocks, 'none').roots[0]
    if (root === undefined) return
    if (repo.head === null) this.setUnexportable(repo, `its first frame in the fixture (seq ${frame.seq ?? '?'}) is a #sync, not its creation: the fixture does not hold its blocks`)
    // A #sync to new data leaves blocks the CAR does not carry: the export then names the first missing one.
    else if (repo.unexportable === null) this.keep(repo, frame.blocks, own)
    this.setHead(repo, root.bytes.slice(), frame.rev)
  }

  private entry(did: string): RepoEntry | undefined {
    let repo = this.repos.get(did)
    if (repo === undefined) {
      if (this.repos.size >= this.maxRepos) {
        this.warnings.warn('max-repos', { did, maxRepos: this.maxRepos }, 'repo index full: this DID is not indexed (its sync endpoints answer RepoNotFound)')
        return undefined
      }
      repo = { did, head: null, active: true, status: null, unexportable: null, cars: [], ownBytes: 0 }
      this.repos.set(did, repo)
    }
    return repo
  }

  private setUnexportable(repo: RepoEntry, reason: string | null): void {
    this.unexportableCount += (reason === null ? 0 : 1) - (repo.unexportable === null ? 0 : 1)
    repo.unexportable = reason
  }

  private setHead(repo: RepoEntry, cid: Uint8Array, rev: string): void {
    if (repo.head === null) this.created.push(repo)
    repo.head = { cid, rev }
  }

  private keep(repo: RepoEntry, car: Uint8Array, own: number): void {
    repo.cars.push(car)
    repo.ownBytes += own
    this.ownTotal += own
  }

  private forget(repo: RepoEntry): void {
    this.ownTotal -= repo.ownBytes
    repo.cars = []
    repo.ownBytes = 0
  }

  /** Over the bound: compact the repos holding most, then drop the largest, until at half of it. */
  private shed(): void {
    const target = this.maxOwnBytes / 2
    const holders = [...this.repos.values()].filter((repo) => repo.ownBytes > 0).sort((a, b) => b.ownBytes - a.ownBytes)
    for (const repo of holders) {
      if (this.ownTotal <= target) break
      this.compact(repo)
    }
    for (const repo of holders) {
      if (this.ownTotal <= target) break
      if (repo.ownBytes === 0) continue
      this.forget(repo)
      this.setUnexportable(repo, `dropped: the replay keeps at most ${this.maxOwnBytes} bytes of repo blocks that the preload does not hold (docs/replay.md)`)
      this.warnings.warn('dropped', { did: repo.did, maxOwnBytes: this.maxOwnBytes }, 'repo blocks over the bound: repo no longer exportable')
    }
  }

  /** Replaces the repo's CARs by one CAR of its live blocks (a copy: the frames can go). */
  private compact(repo: RepoEntry): void {
    let car: Uint8Array
    try {
      const blocks = exportRepo(exportable(repo))
      const builder = new CarBuilder()
      for (const block of blocks) builder.add(block.cid, block.bytes)
      car = builder.encode(blocks[0]!.cid)
    } catch (err) {
      this.forget(repo)
      this.setUnexportable(repo, err instanceof FirehoseError ? err.message : String(err))
      return
    }
    this.forget(repo)
    this.keep(repo, car, car.byteLength)
  }
}

/** The repo as an export reads it; only repos with a head have blocks. */
export function exportable(repo: RepoEntry): RepoSource {
  if (repo.head === null) throw new RangeError(`${repo.did} has no head`)
  return { did: repo.did, head: repo.head, cars: repo.cars }
}
