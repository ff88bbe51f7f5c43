import type { ActivityStats } from '../generator/activity-stats.js'
import { CANDIDATE_LABELS, type CandidateName } from './verify-candidates.js'
import { FRAME_CLASSES, type Cost, type FrameClass, type PassResult } from './verify-types.js'

/** The tables bench/verify.ts prints: costs pooled over rounds (total time / total frames), with the spread of the rounds. */

/** Every round's result of one candidate in one mode. */
export type Rounds = PassResult[]

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`
const count = (n: number): string => n.toLocaleString('en')

export function distributionLines(stats: ActivityStats, meta: Record<string, unknown> | undefined): string[] {
  const field = (name: string): string => {
    const value = meta?.[name]
    return typeof value === 'number' || typeof value === 'string' ? String(value) : '?'
  }
  const exponent = meta?.generator !== 'appview-firehose' ? 'unknown (not a generated fixture)' : meta.activityExponent === undefined ? '0.7 (the default)' : field('activityExponent')
  return [
    `who signed: activity exponent ${exponent}, ${field('accounts')} accounts, seed ${field('seed')}`,
    `  ${count(stats.frames)} frames, ${count(stats.signed)} signed (#commit, #sync) by ${count(stats.dids)} DIDs`,
    `  DIDs seen once: ${count(stats.onceDids)} (${pct(stats.onceDids / stats.dids)} of DIDs), writing ${pct(stats.onceShare)} of the signed frames`,
    `  most active DID: ${count(stats.max)} frames (${pct(stats.max / stats.signed)}); top 1 % of DIDs: ${pct(stats.top1)}; top 10 %: ${pct(stats.top10)}`,
    `  a DID's first signed frame: ${pct(stats.firstShare)} of signed frames; repeats ${pct(1 - stats.firstShare)}`,
  ]
}

/** CPU ms per frame pooled over the rounds. */
function cpuPerFrame(costs: readonly Cost[]): number {
  return sum(costs, 'cpuMs') / sum(costs, 'frames')
}

function wallPerFrame(costs: readonly Cost[]): number {
  return sum(costs, 'wallMs') / sum(costs, 'frames')
}

function sum(costs: readonly Cost[], field: keyof Cost): number {
  return costs.reduce((total, cost) => total + cost[field], 0)
}

/** "0.412 (0.401-0.420)": pooled, then the lowest and highest round. */
function withSpread(costs: readonly Cost[]): string {
  const perRound = costs.map((cost) => cost.cpuMs / cost.frames)
  const spread = costs.length > 1 ? ` (${Math.min(...perRound).toFixed(3)}-${Math.max(...perRound).toFixed(3)})` : ''
  return `${cpuPerFrame(costs).toFixed(3)}${spread}`
}

function ratio(peer: number | undefined, ours: number): string {
  return peer === undefined ? '-' : `${(peer / ours).toFixed(2)}x`
}

/** The main table: cold pass (per-key state empty, as after a restart) and warm passes, ratios on cold CPU time. */
export function costLines(batched: ReadonlyMap<CandidateName, Rounds>): string[] {
  const cold = (name: CandidateName): number | undefined => {
    const rounds = batched.get(name)
    return rounds === undefined ? undefined : cpuPerFrame(rounds.map((r) => r.cold))
  }
  const lines = [`${'candidate'.padEnd(36)} ${'CPU ms/event, cold pass'.padEnd(26)} ${'wall'.padStart(6)}  ${'CPU, warm'.padStart(9)}  ${'@atproto/sync ÷ it'.padStart(18)}  ${'previous ÷ it'.padStart(13)}`]
  for (const [name, rounds] of batched) {
    const colds = rounds.map((r) => r.cold)
    const warms = rounds.flatMap((r) => (r.warm === null ? [] : [r.warm]))
    const ours = cpuPerFrame(colds)
    // decodeEvent is the floor every candidate pays, not a verifier: no ratio.
    const ratios = name === 'decode' ? ['-', '-'] : [ratio(cold('atproto'), ours), ratio(cold('previous'), ours)]
    lines.push(
      `${CANDIDATE_LABELS[name].padEnd(36)} ${withSpread(colds).padEnd(26)} ${wallPerFrame(colds).toFixed(3).padStart(6)}  ${(warms.length === 0 ? '-' : cpuPerFrame(warms).toFixed(3)).padStart(9)}  ${ratios[0]!.padStart(18)}  ${ratios[1]!.padStart(13)}`,
    )
  }
  return lines
}

const CLASS_LABELS: Record<FrameClass, string> = {
  first: "a DID's first signed frame",
  repeat: 'a DID seen before',
  refetch: 'first after its #identity (key fetched again)',
  other: '#identity, #account',
}

/** A loud line for each candidate that refused frames of a fixture every correct verifier accepts. */
export function failureLines(results: ReadonlyMap<CandidateName, Rounds>): string[] {
  return [...results].flatMap(([name, rounds]) => {
    const refused = rounds.reduce((total, r) => total + r.failures.frames, 0)
    const first = rounds.find((r) => r.failures.first !== null)?.failures.first
    return refused === 0 ? [] : [`!! ${CANDIDATE_LABELS[name]} refused ${count(refused)} valid frames over its runs (warm-up included); first: ${first}`]
  })
}

const COLUMN = 34

/** The per-frame runs: cost by frame class, and what resolving a DID costs before the pass. */
export function classLines(perFrame: ReadonlyMap<CandidateName, Rounds>, batched: ReadonlyMap<CandidateName, Rounds>): string[] {
  const names = [...perFrame.keys()]
  /** One line: the label, then each candidate's value (null: not measured). */
  const row = (label: string, value: (name: CandidateName) => number | null): string => `${label.padEnd(48)} ${names.map((n) => (value(n)?.toFixed(3) ?? '-').padStart(COLUMN)).join('')}`
  const lines = [`${'frames (each timed alone), CPU ms/frame'.padEnd(48)} ${names.map((n) => CANDIDATE_LABELS[n].padStart(COLUMN)).join('')}`]
  for (const c of FRAME_CLASSES) {
    const frames = perFrame.get(names[0]!)![0]!.byClass![c].frames
    lines.push(row(`${CLASS_LABELS[c]} (${count(frames)})`, (n) => cpuPerFrame(perFrame.get(n)!.map((r) => r.byClass![c]))))
  }
  lines.push(row('all, one frame per call', (n) => cpuPerFrame(perFrame.get(n)!.map((r) => r.cold))))
  lines.push(row('all, batches of 500 (the table above)', (n) => (batched.has(n) ? cpuPerFrame(batched.get(n)!.map((r) => r.cold)) : null)))
  lines.push(row('resolving a DID before the pass (HTTP, local)', (n) => cpuPerFrame(perFrame.get(n)!.map((r) => r.resolve))))
  return lines
}
