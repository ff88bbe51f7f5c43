import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { cliEntryPoint } from '../../harness/ingestor-process.js'
import { DEFAULT_REDIS_IMAGE } from '../../harness/redis/index.js'

// .ci/compose-test.sh runs these files for real; this checks, without Docker, that they agree
// with each other, with the offline image builder and with the CLI as built (npm test builds first).
const root = join(import.meta.dirname, '..', '..')
const run = promisify(execFile)

interface Service {
  image?: string
  build?: { context: string; target: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
}

const compose = parse(readFileSync(join(root, 'docker-compose.test.yml'), 'utf8')) as { services: Record<string, Service> }
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)/gm)].map((m) => ({ image: m[1]!, name: m[2]! }))
const imageBuilder = readFileSync(join(root, 'docker', 'build-local-images.sh'), 'utf8')

/** `${NAME:-default}` (compose) or `NAME=${NAME:-default}` (shell): the default. */
function defaultOf(text: string, name: string): string | undefined {
  return new RegExp(`\\$\\{${name}:-([^}]+)\\}`).exec(text)?.[1]
}

/** The long flags `firehose <command> --help` lists. */
async function flagsOf(command: string): Promise<Set<string>> {
  const { stdout } = await run(process.execPath, [cliEntryPoint(), command, '--help'])
  return new Set([...stdout.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]!))
}

function flagsUsed(args: readonly string[]): string[] {
  return args.filter((arg) => arg.startsWith('--'))
}

/** The stage a service builds, or the stage of the service that builds its image. */
function stageOf(service: Service): string {
  if (service.build !== undefined) return service.build.target
  const builder = Object.values(compose.services).find((other) => other.build !== undefined && other.image === service.image)
  return builder?.build?.target ?? ''
}

describe('Dockerfile', () => {
  it('is multi-stage on NODE_IMAGE (the offline local node image by default), with a non-root runtime as the last (default) stage', () => {
    expect(stages.map((s) => s.name)).toEqual(['prod-deps', 'runtime'])
    expect(/^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1]).toBe(defaultOf(imageBuilder, 'NODE_IMAGE'))
    expect(stages.filter((s) => !stages.some((t) => t.name === s.image)).map((s) => s.image)).toEqual(['${NODE_IMAGE}', '${NODE_IMAGE}'])
    expect(dockerfile).not.toMatch(/^RUN .*npm (ci|install)/m) // no registry: dependencies come from the build context
    expect(dockerfile).not.toMatch(/^RUN .*tsc/m) // no compiler: dist/ comes from the build context too
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'))
    expect(runtime).toMatch(/^USER node$/m)
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "dist\/cli\/index.js"\]$/m)
    expect(runtime).toMatch(/^CMD \["ingest"\]$/m)
    expect(runtime).toMatch(/HEALTHCHECK[\s\S]*\/health/)
  })

  it('takes node_modules and dist/ from the context, which .dockerignore lets in alone (an allowlist, without caches)', () => {
    expect(dockerfile).toMatch(/^COPY node_modules \.\/node_modules$/m)
    expect(dockerfile).toMatch(/^COPY dist \.\/dist$/m)
    const lines = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
    expect(lines[0]).toBe('*')
    const allowed = lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1))
    expect(allowed).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'node_modules', 'dist']))
    expect(lines).toContain('dist/.tsbuildinfo*')
    // Every file the Dockerfile copies from the context is let in, and exists.
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/))
    for (const path of copied) {
      expect(allowed, path).toContain(path)
      expect(existsSync(join(root, path)), path).toBe(true)
    }
  })

  it('the health port it probes is the one the ingestor is told to serve', async () => {
    expect(dockerfile).toMatch(/FIREHOSE_HEALTH_PORT=8080/)
    expect(await flagsOf('ingest')).toContain('--health-port')
  })

  it('sets the health host to 0.0.0.0 explicitly: the CLI listens on 127.0.0.1 unless told otherwise', async () => {
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'))
    expect(runtime).toMatch(/^\s*FIREHOSE_HEALTH_HOST=0\.0\.0\.0\s*$/m)
    const { stdout } = await run(process.execPath, [cliEntryPoint(), 'ingest', '--help'])
    expect(stdout.replace(/\s+/g, ' ')).toMatch(/--health-host <address> .*\(default: "127\.0\.0\.1", env: FIREHOSE_HEALTH_HOST\)/)
  })
})

describe('docker-compose.test.yml', () => {
  it('has redis (the offline local image by default, the one the harness runs) with AOF on, replay, ingestor and runner', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['ingestor', 'redis', 'replay', 'runner'])
    const redis = compose.services.redis!
    expect(redis.image).toBe(`\${REDIS_IMAGE:-${DEFAULT_REDIS_IMAGE}}`)
    expect(defaultOf(imageBuilder, 'HARNESS_REDIS_IMAGE')).toBe(DEFAULT_REDIS_IMAGE)
    // The local image has no entrypoint adding --protected-mode no (the official one does).
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--protected-mode', 'no']))
  })

  it('builds one image, the runtime stage, and runs ingestor, replay and runner from it', () => {
    for (const name of ['ingestor', 'replay', 'runner']) expect(stageOf(compose.services[name]!), name).toBe('runtime')
    expect(compose.services.replay!.build?.context).toBe('.')
    // The others run the image the replay service builds, so that image must exist first.
    expect(compose.services.ingestor!.image).toBe(compose.services.replay!.image)
    expect(compose.services.runner!.image).toBe(compose.services.replay!.image)
    expect(compose.services.ingestor!.depends_on).toHaveProperty('replay')
  })

  it('runs the ingestor and replay with flags the CLI has, against the compose services', async () => {
    const ingest = compose.services.ingestor!.command!
    expect(ingest[0]).toBe('ingest')
    const ingestFlags = await flagsOf('ingest')
    for (const flag of flagsUsed(ingest)) expect(ingestFlags, flag).toContain(flag)
    expect(ingest[ingest.indexOf('--redis') + 1]).toBe('redis://redis:6379')
    const replayPort = compose.services.replay!.command![compose.services.replay!.command!.indexOf('--port') + 1]
    expect(ingest[ingest.indexOf('--relay') + 1]).toBe(`ws://replay:${replayPort}`)

    const replay = compose.services.replay!.command!
    expect(replay[0]).toBe('replay')
    const replayFlags = await flagsOf('replay')
    for (const flag of flagsUsed(replay)) expect(replayFlags, flag).toContain(flag)
    expect(existsSync(join(root, replay[replay.length - 1]!))).toBe(true)
  })

  it("verifies the compose ingestor's stream against the fixture the replay feeds it, waiting while it writes", async () => {
    const runner = compose.services.runner!
    const verify = runner.command!
    expect(verify[0]).toBe('verify')
    const verifyFlags = await flagsOf('verify')
    for (const flag of flagsUsed(verify)) expect(verifyFlags, flag).toContain(flag)
    const ingest = compose.services.ingestor!.command!
    const replay = compose.services.replay!.command!
    expect(verify[verify.indexOf('--stream') + 1]).toBe(ingest[ingest.indexOf('--stream') + 1])
    expect(verify[verify.indexOf('--fixture') + 1]).toBe(replay[replay.length - 1])
    expect(verify[verify.indexOf('--redis') + 1]).toBe(ingest[ingest.indexOf('--redis') + 1])
    expect(Number(verify[verify.indexOf('--wait') + 1])).toBeGreaterThan(0)
    expect(runner.depends_on).toMatchObject({ ingestor: { condition: 'service_healthy' } })
  })

  it('gives every long-running service a healthcheck', () => {
    for (const name of ['redis', 'replay']) expect(compose.services[name]!.healthcheck?.test.length, name).toBeGreaterThan(0)
    // The ingestor's comes from the Dockerfile HEALTHCHECK (GET /health on --health-port 8080),
    // on every interface, said explicitly (the CLI's default is 127.0.0.1).
    const ingest = compose.services.ingestor!.command!
    expect(ingest[ingest.indexOf('--health-port') + 1]).toBe('8080')
    expect(ingest[ingest.indexOf('--health-host') + 1]).toBe('0.0.0.0')
  })
})
