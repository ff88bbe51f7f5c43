import { spawn, type ChildProcess } from 'node:child_process'
import { reapOnExit } from '../../harness/child-reaper.js'
import { cliEntryPoint } from '../../harness/ingestor-process.js'

/**
 * The built CLI (`node dist/cli/index.js ...`, `npm test` builds first) as a child process, run
 * asynchronously: a test waiting for it leaves the event loop free, so the servers the test runs
 * in this process keep answering and concurrent tests keep going.
 */
export interface CliOptions {
  /**
   * Variables for the child, over `{ PATH }`: nothing else of this process's environment (a
   * developer's REDIS_URL or FIREHOSE_*) leaks in unless the test passes it, e.g. `{ ...process.env }`.
   */
  env?: NodeJS.ProcessEnv
  /** SIGKILL after this long (default 20 s): the result then has `signal: 'SIGKILL'`. */
  timeoutMs?: number
  cwd?: string
  /** Its own process group, for tests that signal the group as a terminal does (`process.kill(-pid)`). */
  detached?: boolean
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A started CLI: the output so far, and its result once it has exited and closed its pipes. */
export interface CliProcess {
  readonly child: ChildProcess
  readonly stdout: string
  readonly stderr: string
  readonly done: Promise<CliResult>
}

const DEFAULT_TIMEOUT_MS = 20_000

/** `node ARGS` with the CLI's options: for scripts that are not the CLI (`-e` snippets). */
export function startNode(args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, ...options.env },
    cwd: options.cwd,
    detached: options.detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  reapOnExit(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return {
    child,
    done,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
  }
}

/** `firehose ARGS`, started: for tests that signal it or watch its output while it runs. */
export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  return startNode([cliEntryPoint(), ...args], options)
}

/** `firehose ARGS` to the end: its exit code (or signal) and everything it printed. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done
}

/** `node ARGS` to the end. */
export function runNode(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startNode(args, options).done
}
