import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { verifyProofs } from '@atproto/repo'
import type { CID } from 'multiformats/cid'
import { silentLogger } from '../common/logger.js'
import { emptyCounters } from '../ingestor/status.js'
import { createFrameVerifier } from '../ingestor/verify/frame-verifier.js'
import { decodeEvent } from '../protocol/events.js'
import { decodeFrame } from '../protocol/frame.js'
import { keyFromDocument } from '../protocol/did-document.js'

/** What bench/verify.ts compares, each measured in its own process (verify-pass.ts). */
export const CANDIDATES = ['decode', 'current', 'previous', 'atproto'] as const
export type CandidateName = (typeof CANDIDATES)[number]

export const CANDIDATE_LABELS: Record<CandidateName, string> = {
  decode: 'decodeEvent alone (verify off)',
  current: 'FrameVerifier, this build',
  previous: 'FrameVerifier, --previous build',
  atproto: '@atproto/sync path (verifyProofs)',
}

/**
 * One candidate, set up for one fixture. `run` checks a batch of frames and answers why each
 * frame that failed did (none for a valid fixture): a verifier under work may refuse valid
 * frames, and the bench reports that rather than stopping.
 */
export interface Candidate {
  run(frames: readonly Uint8Array[]): Promise<string[]>
  /** Fills the DID cache (resolution only, no check), so the timed passes fetch nothing but after an #identity. */
  resolveAll(dids: readonly string[]): Promise<void>
  close(): Promise<void>
}

export interface CandidateSetup {
  /** PLC directory serving the fixture's DID documents (harness/plc-server.ts). */
  plcUrl: string
  /** The fixture's `FILE.did-docs.json` (the @atproto/sync path takes keys from it directly). */
  didDocsPath: string
  /** Folder of a built copy of another commit (its dist/), for `previous`. */
  previousDir: string | null
}

/** The part of a FrameVerifier the bench calls; the --previous build is loaded as this shape. */
interface VerifierLike {
  verify(frames: readonly Uint8Array[], cancelled: () => boolean): Promise<readonly ({ code: string; message: string } | null)[] | null>
  readonly resolver: { resolve(did: string): Promise<unknown> }
  close(): Promise<void>
}
type VerifierFactory = (plcUrl: string) => VerifierLike

/**
 * Checks on the main thread (--verify-workers 0) so the process's CPU time is all of it; caches
 * large enough to hold every DID; no --plc-rps limit worth the name (the directory is local: the
 * limit would only add waiting) and no shared Redis cache (none is given).
 */
const VERIFIER_OPTIONS = { didCacheSize: 100_000, didCacheTtlMs: 3_600_000, didTimeoutMs: 5_000, verifyWorkers: 0, plcRps: 100_000 }

export async function createCandidate(name: CandidateName, setup: CandidateSetup): Promise<Candidate> {
  switch (name) {
    case 'decode':
      return {
        run: async (frames) => {
          for (const bytes of frames) decodeEvent(bytes)
          return []
        },
        resolveAll: async () => {},
        close: async () => {},
      }
    case 'current':
      return verifierCandidate((plcUrl) => createFrameVerifier({ ...VERIFIER_OPTIONS, plcUrl }, emptyCounters(), silentLogger), setup.plcUrl)
    case 'previous':
      if (setup.previousDir === null) throw new Error('the previous build needs --previous DIR')
      return verifierCandidate(await loadPreviousBuild(setup.previousDir), setup.plcUrl)
    case 'atproto':
      return atprotoCandidate(setup.didDocsPath)
  }
}

function verifierCandidate(factory: VerifierFactory, plcUrl: string): Candidate {
  const verifier = factory(plcUrl)
  return {
    run: async (frames) => {
      const verdicts = await verifier.verify(frames, () => false)
      if (verdicts === null) throw new Error('the verifier gave up a batch (it is never cancelled here)')
      return verdicts.flatMap((verdict) => (verdict === null ? [] : [`${verdict.code} ${verdict.message}`]))
    },
    resolveAll: async (dids) => {
      await Promise.all(dids.map((did) => verifier.resolver.resolve(did)))
    },
    close: () => verifier.close(),
  }
}

/** createFrameVerifier of a built copy of another commit: its own module instances, so its own caches. */
async function loadPreviousBuild(dir: string): Promise<VerifierFactory> {
  const load = (path: string): Promise<Record<string, unknown>> => import(pathToFileURL(join(dir, 'dist', path)).href) as Promise<Record<string, unknown>>
  const [verifier, status, logger] = await Promise.all([load('ingestor/verify/frame-verifier.js'), load('ingestor/status.js'), load('common/logger.js')])
  const create = verifier.createFrameVerifier as (options: Record<string, unknown>, counters: unknown, logger: unknown) => VerifierLike
  const counters = status.emptyCounters as () => unknown
  return (plcUrl) => create({ ...VERIFIER_OPTIONS, plcUrl }, counters(), logger.silentLogger)
}

/**
 * What @atproto/sync's Firehose does per #commit (parseCommitAuthenticated): @atproto/repo
 * verifyProofs over the op claims, which re-reads the CAR and checks the signature with
 * @atproto/crypto; no prevData inversion. Other frames cost it nothing. Keys come from the DID
 * documents, already parsed: resolution is not what is compared.
 */
function atprotoCandidate(didDocsPath: string): Candidate {
  const docs = JSON.parse(readFileSync(didDocsPath, 'utf8')) as Record<string, unknown>
  const keys = new Map<string, string>()
  for (const [did, doc] of Object.entries(docs)) {
    const resolution = keyFromDocument(did, JSON.stringify(doc))
    if (resolution.kind === 'key') keys.set(did, resolution.key.didKey)
  }
  return {
    run: async (frames) => {
      const failures: string[] = []
      for (const bytes of frames) {
        const { header, body } = decodeFrame(bytes)
        if (header.op !== 1 || header.t !== '#commit') continue
        const claims = (body.ops as { action: string; path: string; cid: CID | null }[]).map((op) => {
          const [collection, rkey] = op.path.split('/') as [string, string]
          return { collection, rkey, cid: op.action === 'delete' ? null : op.cid }
        })
        try {
          const result = await verifyProofs(body.blocks as Uint8Array, claims, body.repo as string, keys.get(body.repo as string)!)
          if (result.unverified.length > 0) failures.push(`seq ${String(body.seq)}: ${result.unverified.length} unverified ops`)
        } catch (err) {
          failures.push(`seq ${String(body.seq)}: ${(err as Error).message}`)
        }
      }
      return failures
    },
    resolveAll: async () => {},
    close: async () => {},
  }
}
