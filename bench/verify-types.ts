import type { CandidateName } from './verify-candidates.js'

/** What bench/verify.ts asks one child process (verify-pass.ts) to measure, and what it answers. */

/** A fixture and the local PLC directory serving its DID documents. */
export interface ServedFixture {
  path: string
  plcUrl: string
}

export interface PassRequest {
  candidate: CandidateName
  /**
   * batched: the fixture in batches of 500, as the ingestor's pipeline verifies, then `warmSeconds`
   * more of it with every key seen. perFrame: each frame timed on its own, to split the cost by
   * whether the frame is its DID's first.
   */
  mode: 'batched' | 'perFrame'
  fixture: ServedFixture
  /** Run (untimed) before the measured fixture so the JIT is warm; other accounts than the fixture's. */
  warmup: ServedFixture
  previousDir: string | null
  warmSeconds: number
}

/** CPU (process.cpuUsage, user + system, every thread of the child) and wall time over `frames` frames. */
export interface Cost {
  frames: number
  cpuMs: number
  wallMs: number
}

/**
 * first: a DID's first signed frame in the fixture (its key's first use in this process).
 * repeat: a later one. refetch: the first signed frame after the DID's #identity, which made the
 * verifier forget the key (so it is fetched again, from the local PLC directory). other: the rest.
 */
export const FRAME_CLASSES = ['first', 'repeat', 'refetch', 'other'] as const
export type FrameClass = (typeof FRAME_CLASSES)[number]

export interface PassResult {
  /** Resolving every DID of the fixture before the timed pass (HTTP to the local directory, parsing the key). */
  resolve: Cost
  /** The first pass over the fixture in this process: each DID's first frame finds no per-key state. */
  cold: Cost
  /** batched: further passes, every key seen before; null for perFrame. */
  warm: Cost | null
  /** perFrame: the cold pass by frame class; null for batched. */
  byClass: Record<FrameClass, Cost> | null
  /** Frames the candidate refused, warm-up included (0 for a correct verifier), and the first reason. */
  failures: { frames: number; first: string | null }
}
