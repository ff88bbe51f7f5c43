import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { reapOnExit } from './child-reaper.js'
import { HarnessError, HarnessErrorCode } from './errors.js'

/**
 * The real `firehose ingest` CLI as a child process, started with the flags a user passes,
 * its JSON logs (stderr) parsed, its RSS sampled, killed with SIGKILL or stopped with SIGTERM.
 */
export interface IngestorProcessOptions {
  relayUrl: string
  redisUrl: string
  stream?: string
  cursorKey?: string
  /** More CLI flags, e.g. ['--max-len', '100000']. */
  args?: string[]
  /**
   * Per-repo state (the ingestor's default). Default false here: the harness checks streams
   * against the fixture frame by frame, which per-repo state withholds some of (`#sync`); the
   * repo-state scenarios turn it on and check with the model AppView.
   */
  repoState?: boolean
  /**
   * Signature and MST proof checks (the ingestor's default). Default false here: the harness runs
   * recordings too, whose DIDs no offline PLC directory knows; a caller that turns it on passes
   * `--plc-url` (the replay's, `ReplayHandle.plcUrl`) in `args`.
   */
  verify?: boolean
  /** Test-only crash point `<point>:<n>` (FIREHOSE_CRASH_AT), see ingestor/crash-points.ts. */
  crashAt?: string | null
  env?: Record<string, string>
  /** Records kept from the log (default 5000; older ones dropped, counted in droppedLogRecords). */
  maxLogRecords?: number
}

export interface LogRecord {
  level?: number
  msg?: string
  [key: string]: unknown
}

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

const RSS_SAMPLE_MS = 100
const DEFAULT_MAX_LOG_RECORDS = 5000
/** stdout lines kept for failure reports (the ingestor prints little there). */
const STDOUT_TAIL = 50

/** dist/cli/index.js whether this module runs from source (vitest) or from dist/. */
export function cliEntryPoint(): string {
  const parent = fileURLToPath(new URL('..', import.meta.url))
  return basename(parent) === 'dist' ? join(parent, 'cli', 'index.js') : join(parent, 'dist', 'cli', 'index.js')
}

/**
 * The argv a user would type for these options (after `firehose`), except the Redis URL: it may
 * carry a password, and a command line is world-readable (`ps`, /proc/<pid>/cmdline), so it goes
 * in the child's environment (ingestEnv).
 */
export function ingestArgs(options: IngestorProcessOptions): string[] {
  const args = ['ingest', '--relay', options.relayUrl]
  if (options.stream !== undefined) args.push('--stream', options.stream)
  if (options.cursorKey !== undefined) args.push('--cursor-key', options.cursorKey)
  if (options.repoState !== true) args.push('--no-repo-state')
  if (options.verify !== true) args.push('--no-verify')
  return [...args, ...(options.args ?? [])]
}

/** The environment carrying what ingestArgs leaves out: REDIS_URL, the variable `ingest --redis` falls back to. */
export function ingestEnv(options: IngestorProcessOptions): { REDIS_URL: string } {
  return { REDIS_URL: options.redisUrl }
}

export class IngestorProcess {
  readonly logs: LogRecord[] = []
  droppedLogRecords = 0
  /** Highest RSS seen by the sampler, in MiB (null where /proc is not available). */
  maxRssMb: number | null = null
  readonly exited: Promise<ExitInfo>
  private exitInfo: ExitInfo | null = null
  private readonly stdoutTail: string[] = []
  private readonly sampler: NodeJS.Timeout
  private readonly logListeners = new Set<(record: LogRecord) => void>()

  private constructor(
    private readonly child: ChildProcess,
    readonly options: IngestorProcessOptions,
  ) {
    reapOnExit(child) // never outlives the harness
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        clearInterval(this.sampler)
        resolve(this.exitInfo)
      })
    })
    const maxRecords = options.maxLogRecords ?? DEFAULT_MAX_LOG_RECORDS
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const record = parseLogLine(line)
      this.logs.push(record)
      if (this.logs.length > maxRecords) {
        this.logs.shift()
        this.droppedLogRecords++
      }
      for (const listener of this.logListeners) listener(record)
    })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.stdoutTail.push(line)
      if (this.stdoutTail.length > STDOUT_TAIL) this.stdoutTail.shift()
    })
    this.sampler = setInterval(() => void this.sampleRss(), RSS_SAMPLE_MS)
    this.sampler.unref()
  }

  static start(options: IngestorProcessOptions): IngestorProcess {
    const env: Record<string, string | undefined> = { ...process.env, FIREHOSE_LOG_LEVEL: process.env.FIREHOSE_LOG_LEVEL ?? 'info', ...options.env }
    // The harness' own environment must not leak into the child's flags (flags win anyway, but
    // e.g. REDIS_STREAM_KEY from a compose file would change the default stream).
    for (const name of ['RELAY_URL', 'REDIS_URL', 'REDIS_STREAM_KEY', 'REDIS_CURSOR_KEY', 'REDIS_MAX_STREAM_LEN', 'FIREHOSE_CRASH_AT']) {
      if (options.env?.[name] === undefined) delete env[name]
    }
    if (options.crashAt != null) env.FIREHOSE_CRASH_AT = options.crashAt
    Object.assign(env, ingestEnv(options))
    // Own process group: a Ctrl-C meant for the harness (loadtest's report on SIGINT) must not reach
    // the child; the harness stops it, and reapOnExit kills it if the harness dies.
    const child = spawn(process.execPath, [cliEntryPoint(), ...ingestArgs(options)], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    return new IngestorProcess(child, options)
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** Null while running. */
  get exit(): ExitInfo | null {
    return this.exitInfo
  }

  /** Resolves with the first log record (already seen or future) matching; rejects if the process exits first. */
  waitForLog(predicate: (record: LogRecord) => boolean, timeoutMs: number, what = 'a log record'): Promise<LogRecord> {
    const seen = this.logs.find(predicate)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer)
        this.logListeners.delete(listener)
      }
      const listener = (record: LogRecord): void => {
        if (!predicate(record)) return
        cleanup()
        resolve(record)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(this.failure(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      this.logListeners.add(listener)
      void this.exited.then(() => {
        if (!this.logListeners.has(listener)) return
        // Let the last stderr lines arrive before giving up.
        setTimeout(() => {
          if (!this.logListeners.has(listener)) return
          cleanup()
          reject(this.failure(`exited (${describeExit(this.exitInfo)}) before ${what}`))
        }, 50)
      })
    })
  }

  /** SIGKILL now; resolves once the process is gone. */
  async kill9(): Promise<ExitInfo> {
    if (this.exitInfo === null) this.child.kill('SIGKILL')
    return this.exited
  }

  /** SIGTERM (graceful: drain, last batch + cursor); SIGKILL after timeoutMs. */
  async stop(timeoutMs = 15_000): Promise<ExitInfo> {
    if (this.exitInfo !== null) return this.exitInfo
    this.child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([this.exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))])
    clearTimeout(timer)
    if (timedOut) {
      this.child.kill('SIGKILL')
      throw this.failure(`did not exit within ${timeoutMs} ms of SIGTERM (killed)`)
    }
    return this.exited
  }

  /** A new process with the same options (optionally changed, e.g. another crash point). */
  restart(overrides: Partial<IngestorProcessOptions> = {}): IngestorProcess {
    if (this.exitInfo === null) throw this.failure('restart() while still running: kill9() or stop() it first')
    return IngestorProcess.start({ ...this.options, ...overrides })
  }

  /** Error carrying the log tail, for failures a human must read. */
  failure(message: string): HarnessError {
    const tail = this.logs.slice(-15).map((record) => JSON.stringify(record))
    return new HarnessError(HarnessErrorCode.ChildProcessFailed, `ingestor (pid ${this.pid}) ${message}\n${tail.join('\n')}`, {
      pid: this.pid,
      exit: this.exitInfo,
      logTail: tail,
      stdoutTail: [...this.stdoutTail],
    })
  }

  private async sampleRss(): Promise<void> {
    if (this.exitInfo !== null || this.child.pid === undefined) return
    try {
      const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8')
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
      if (Number.isFinite(kb)) this.maxRssMb = Math.max(this.maxRssMb ?? 0, Math.round((kb / 1024) * 10) / 10)
    } catch {
      // process just exited, or no /proc (macOS): RSS stays unknown
    }
  }
}

/** Lines that are not JSON (e.g. a crash trace) are kept as { msg: line, raw: true }. */
function parseLogLine(line: string): LogRecord {
  try {
    const value: unknown = JSON.parse(line)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as LogRecord
  } catch {
    // not JSON: fall through
  }
  return { msg: line, raw: true }
}

export function describeExit(exit: ExitInfo | null): string {
  if (exit === null) return 'running'
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`
}
