import { badInput } from './errors.js'

/** Highest rate the load test will ask for (events/s): far above what one process can replay. */
export const MAX_RATE = 1_000_000

/** `--rate N|max`. */
export function parseRate(value: string): number | 'max' {
  const trimmed = value.trim()
  if (trimmed === 'max') return 'max'
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1 || Number(trimmed) > MAX_RATE) {
    throw badInput(`--rate: expected an events/s integer from 1 to ${MAX_RATE} or "max", got "${value}"`, { value })
  }
  return Number(trimmed)
}

/** A stepped rate profile: `rates[i]` for `stepSeconds`, one after the other. */
export interface StepProfile {
  spec: string
  rates: number[]
  stepSeconds: number
}

const STEP_SYNTAX = /^step:(\d+)\.\.(\d+)(?:\+(\d+))?\/(\d+(?:\.\d+)?)s$/

/**
 * `step:A..B[+S]/Ns`: A events/s for N seconds, then A+S, A+2S, ... up to B (B itself is
 * always the last step). S defaults to A, so `step:1000..20000/10s` is 1000, 2000, ... 20000,
 * 10 s each.
 */
export function parseProfile(value: string): StepProfile {
  const match = STEP_SYNTAX.exec(value.trim())
  if (match === null) throw badInput(`--profile: expected step:FROM..TO[+STEP]/SECONDSs (e.g. step:1000..20000+1000/10s), got "${value}"`, { value })
  const from = Number(match[1])
  const to = Number(match[2])
  const step = match[3] === undefined ? from : Number(match[3])
  const stepSeconds = Number(match[4])
  for (const [name, rate] of [
    ['FROM', from],
    ['TO', to],
    ['STEP', step],
  ] as const) {
    if (rate < 1 || rate > MAX_RATE) throw badInput(`--profile: ${name} must be from 1 to ${MAX_RATE} events/s, got ${rate}`, { value })
  }
  if (to < from) throw badInput(`--profile: TO (${to}) must not be below FROM (${from})`, { value })
  if (stepSeconds < 1 || stepSeconds > 3600) throw badInput(`--profile: step length must be from 1 to 3600 s, got ${stepSeconds}`, { value })
  const rates: number[] = []
  for (let rate = from; rate < to; rate += step) rates.push(rate)
  rates.push(to)
  if (rates.length > 1000) throw badInput(`--profile: ${rates.length} steps is too many (at most 1000)`, { value })
  return { spec: value.trim(), rates, stepSeconds }
}
