import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { BackfillProgress } from '../backfill/run-backfill.js'
import { reapOnExit } from './child-reaper.js'
import { HarnessError, HarnessErrorCode } from './errors.js'
import { cliEntryPoint, describeExit, type ExitInfo } from './ingestor-process.js'

/**
 * The real `firehose backfill --all` CLI as a child process, with the flags a user passes (the
 * Redis URL in its environment, as IngestorProcess does: a command line is world-readable), its
 * `--json` summary read from stdout, killed with SIGKILL. Run it again with the same options and
 * it resumes from the listing stored in Redis.
 */
export interface BackfillProcessOptions {
  redisUrl: string
  stream: string
  /** The relay or PDS it lists from (`--list-from`). */
  listFrom: string
  /** More CLI flags, e.g. ['--max-outstanding', '200']. */
  args?: string[]
}

/** Lines of stderr (logs, progress) kept for failure reports. */
const STDERR_TAIL = 30

export class BackfillProcess {
  readonly exited: Promise<ExitInfo>
  private exitInfo: ExitInfo | null = null
  private readonly stdout: string[] = []
  private readonly stderrTail: string[] = []

  private constructor(
    private readonly child: ChildProcess,
    readonly options: BackfillProcessOptions,
  ) {
    reapOnExit(child)
    // 'close', not 'exit': by then stdout is read to its end, the summary line with it.
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitInfo = { code, signal }
        resolve(this.exitInfo)
      })
    })
    createInterface({ input: child.stdout! }).on('line', (line) => this.stdout.push(line))
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderrTail.push(line)
      if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift()
    })
  }

  static start(options: BackfillProcessOptions): BackfillProcess {
    const env: Record<string, string | undefined> = { ...process.env, FIREHOSE_LOG_LEVEL: process.env.FIREHOSE_LOG_LEVEL ?? 'info', REDIS_URL: options.redisUrl }
    // The harness' own environment must not choose for it (FIREHOSE_BACKFILL_RESTART would forget the listing it must resume).
    for (const name of Object.keys(env)) if (/^(FIREHOSE_BACKFILL|FIREHOSE_LIST_FROM|FIREHOSE_JSON|REDIS_STREAM_KEY)/.test(name)) delete env[name]
    const args = ['backfill', '--all', '--list-from', options.listFrom, '--stream', options.stream, '--json', ...(options.args ?? [])]
    // Own process group, as IngestorProcess: a Ctrl-C meant for the harness must not reach it.
    const child = spawn(process.execPath, [cliEntryPoint(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    return new BackfillProcess(child, options)
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** Null while running. */
  get exit(): ExitInfo | null {
    return this.exitInfo
  }

  /** SIGKILL now; resolves once the process is gone. */
  async kill9(): Promise<ExitInfo> {
    if (this.exitInfo === null) this.child.kill('SIGKILL')
    return this.exited
  }

  /** The `--json` line it printed when it ended by itself (null before, or when it printed none). */
  summary(): BackfillProgress | null {
    const last = this.stdout.at(-1)
    if (last === undefined) return null
    try {
      return JSON.parse(last) as BackfillProgress
    } catch {
      return null
    }
  }

  /** Error carrying the stderr tail, for failures a human must read. */
  failure(message: string): HarnessError {
    return new HarnessError(HarnessErrorCode.ChildProcessFailed, `backfill (pid ${this.pid}, ${describeExit(this.exitInfo)}) ${message}\n${this.stderrTail.join('\n')}`, {
      pid: this.pid,
      exit: this.exitInfo,
      stderrTail: [...this.stderrTail],
      stdout: [...this.stdout],
    })
  }
}
