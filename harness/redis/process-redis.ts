import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reapOnExit, type ReapHandle } from '../child-reaper.js'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { ownedServerHandle } from './owned-server.js'
import { launchOnPort } from './launch-on-port.js'
import { redisServerArgs, redisUrl } from './server-args.js'
import type { RedisHandle, RedisPersistence } from './types.js'

const HOST = '127.0.0.1'
const REDIS_SERVER = process.env.HARNESS_REDIS_SERVER ?? 'redis-server'
const READY_TIMEOUT_MS = 20_000
/** Lines of server output kept for error messages (bounded; older lines dropped). */
const LOG_TAIL_LINES = 20

interface Running {
  child: ChildProcess
  reaper: ReapHandle
  exited: Promise<void>
  logTail: string[]
}

interface ProcessRedisOptions {
  persistence: RedisPersistence
  password?: string | undefined
  /**
   * More redis-server arguments, e.g. `--tls-port N --tls-cert-file ...` for a TLS listener
   * beside the plain port (which the harness keeps for its readiness check and cli()).
   */
  extraArgs?: readonly string[]
}

/** A real redis-server child on a free port with its own temp data dir. */
export async function startProcessRedis(options: ProcessRedisOptions): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'firehose-redis-'))
  let port = 0
  let running: Running | null = null

  const url = (): string => redisUrl(HOST, port, options.password)

  async function launch(newPort: boolean): Promise<void> {
    port = await launchOnPort(HOST, port, newPort, async (candidate) => {
      running = await spawnServer(dir, candidate, options)
    })
  }

  async function killServer(): Promise<void> {
    const current = running
    running = null
    if (current === null) return
    current.child.kill('SIGKILL')
    await current.exited
    current.reaper.release()
  }

  return ownedServerHandle({ kind: 'process', persistence: options.persistence, dir, url, launch, kill: killServer, shutdown: killServer })
}

async function spawnServer(dir: string, port: number, options: ProcessRedisOptions): Promise<Running> {
  const args = [...redisServerArgs({ ...options, dir, port, bindHost: HOST }), ...(options.extraArgs ?? [])]
  // Own process group, like the ingestor children (harness/ingestor-process.ts): a terminal's Ctrl-C is the harness' to handle.
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const reaper = reapOnExit(child, dir)
  const logTail: string[] = []
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      logTail.push(line)
      if (logTail.length > LOG_TAIL_LINES) logTail.shift()
    }
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exitReason: string | null = null
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      exitReason = err.message
      resolve()
    })
    child.once('exit', (code, signal) => {
      exitReason ??= `exited with ${signal ?? `code ${code}`}`
      resolve()
    })
  })

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (exitReason === null) {
    if (await pingAnswers(port)) return { child, reaper, exited, logTail }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      await exited
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  reaper.release()
  throw new HarnessError(HarnessErrorCode.RedisStartFailed, `redis-server on port ${port} did not start: ${logTail.join(' | ') || exitReason}`, {
    kind: 'process',
    port,
    reason: `${exitReason ?? 'timeout'}: ${logTail.join('\n')}`,
  })
}

/**
 * True when the server answers PING. NOAUTH also means it is serving; LOADING (AOF replay)
 * does not.
 */
function pingAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port })
    let reply = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    // A listener that is not Redis (the port taken) may close at once: no error, no reply.
    socket.once('close', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'))
    })
  })
}
