import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

/**
 * Makes sure servers the harness starts (redis-server, ingestor children) never outlive it.
 * Two layers: a synchronous 'exit' handler for normal exits, and a detached shell watchdog
 * per child that SIGKILLs it (and removes its temp dir) if the harness itself is SIGKILLed,
 * e.g. by a test timeout, when no exit handler runs.
 */
interface Reaped {
  child: ChildProcess
  watchdog: ChildProcess | null
  dir: string | null
}

const live = new Set<Reaped>()
let exitHandlerInstalled = false

function onExit(): void {
  for (const entry of live) {
    entry.child.kill('SIGKILL')
    entry.watchdog?.kill('SIGKILL')
    if (entry.dir !== null) rmSync(entry.dir, { recursive: true, force: true })
  }
  live.clear()
}

export interface ReapHandle {
  /** The child exited or was stopped on purpose: stop watching it (the dir is kept). */
  release(): void
}

/** Registers `child` (and optionally a temp `dir` to delete) for cleanup when the harness exits. */
export function reapOnExit(child: ChildProcess, dir: string | null = null): ReapHandle {
  if (!exitHandlerInstalled) {
    process.on('exit', onExit)
    exitHandlerInstalled = true
  }
  const entry: Reaped = { child, watchdog: startWatchdog(child, dir), dir }
  live.add(entry)
  const release = (): void => {
    if (!live.delete(entry)) return
    entry.watchdog?.kill('SIGKILL')
  }
  child.once('exit', release)
  return { release }
}

function startWatchdog(child: ChildProcess, dir: string | null): ChildProcess | null {
  if (child.pid === undefined || process.platform === 'win32') return null
  // Polls once a second; exits on its own when the child is gone.
  const script = ['while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done', 'if ! kill -0 "$1" 2>/dev/null; then kill -9 "$2" 2>/dev/null; if [ -n "$3" ]; then rm -rf "$3"; fi; fi'].join('\n')
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), String(child.pid), dir ?? ''], {
    detached: true,
    stdio: 'ignore',
  })
  watchdog.unref()
  return watchdog
}
