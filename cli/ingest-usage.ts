import type { IngestorError } from '../ingestor/errors.js'

/** How a flag sets a library option: `per` option units make one flag unit (--lease-ttl 0.5 is leaseTtlMs 500). */
interface FlagOfOption {
  flag: string
  per: number
  unit: string
}

const MIB = 1024 * 1024
const SECONDS = { per: 1000, unit: ' s' }
const MEBIBYTES = { per: MIB, unit: ' MiB' }

/** Options set by a flag of another name or unit; any other option is its flag in kebab case (batchSize: --batch-size). */
const FLAGS: Readonly<Record<string, Partial<FlagOfOption> & { flag: string }>> = {
  relayUrl: { flag: '--relay' },
  relayUrls: { flag: '--relay' },
  primaryProbeIntervalMs: { flag: '--primary-probe-interval', ...SECONDS },
  redisUrl: { flag: '--redis' },
  startCursor: { flag: '--cursor' },
  stallTimeoutMs: { flag: '--stall-timeout', ...SECONDS },
  maxMessageBytes: { flag: '--max-message-mb', ...MEBIBYTES },
  queueFrames: { flag: '--queue-size' },
  queueBytes: { flag: '--queue-mb', ...MEBIBYTES },
  maxConsecutiveBadFrames: { flag: '--max-bad-frames' },
  deadLetterMaxBytes: { flag: '--dead-letter-max-mb', ...MEBIBYTES },
  readyWriteTimeoutMs: { flag: '--ready-write-timeout', ...SECONDS },
  statusIntervalMs: { flag: '--status-interval', ...SECONDS },
  leaseTtlMs: { flag: '--lease-ttl', ...SECONDS },
}

function flagOf(option: string): FlagOfOption {
  const known = FLAGS[option]
  return { per: 1, unit: '', ...known, flag: known?.flag ?? `--${option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}` }
}

/** The fields ingestor/options.ts gives an INGESTOR_INVALID_OPTION. */
interface InvalidOptionFields {
  option?: string
  value?: unknown
  reason?: string
  min?: number
  max?: number
  minOption?: string
}

/**
 * An option resolveOptions refused, as the one usage line of `firehose ingest`: the library
 * decides (the rules are written once, there), this says it in the user's terms, the flag and
 * its unit (`leaseTtlMs must be an integer from 500 to 600000` is `--lease-ttl must be at least 0.5 s, got 0.2`).
 */
export function invalidOptionUsage(err: IngestorError): string {
  const { option, value, reason, min, max, minOption } = err.fields as InvalidOptionFields
  if (option === undefined || reason === undefined) return err.message
  const { flag, per, unit } = flagOf(option)
  if (typeof value === 'number') {
    if (minOption !== undefined && min !== undefined) {
      const other = flagOf(minOption)
      return `${flag} (${value / per}) must be at least ${other.flag} (${min / other.per})`
    }
    if (min !== undefined && value < min) return `${flag} must be at least ${min / per}${unit}, got ${value / per}`
    if (max !== undefined && value > max) return `${flag} must be at most ${max / per}${unit}, got ${value / per}`
  }
  const quoted = JSON.stringify(value) as string | undefined
  if (quoted === undefined) return `${flag} ${reason}`
  // A reason that quotes the value (the key-layout and filter checks) needs no second copy of it.
  if (reason.includes(quoted)) return `${flag}: ${reason}`
  return `${flag} ${typeof value === 'number' ? value / per : typeof value === 'string' ? value : quoted} ${reason}`
}
