import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { DEFAULT_REDIS_IMAGE } from '../../harness/redis/index.js'
import { runCli } from '../support/cli.js'

// .ci/compose-test.sh runs these files for real; this checks, without Docker, that they agree
// with each other, with the offline image builder and with the CLI as built (npm test builds first).
const root = join(import.meta.dirname, '..', '..')

interface Service {
  image?: string
  build?: { context: string; target: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test?: string[] }
  restart?: string
  mem_limit?: string
  stop_grace_period?: string
}

type ComposeFile = { services: Record<string, Service> }
const readCompose = (path: string): ComposeFile => parse(readFileSync(join(root, path), 'utf8')) as ComposeFile
const example = readCompose('examples/docker-compose.yml')
const testOverride = readCompose('docker-compose.test.yml')
/** The two files as `docker-compose -f examples/docker-compose.yml -f docker-compose.test.yml` merges them: maps merged key by key, other values replaced. */
const compose: ComposeFile = { services: {} }
for (const name of new Set([...Object.keys(example.services), ...Object.keys(testOverride.services)])) {
  const base = example.services[name] ?? {}
  const over = testOverride.services[name] ?? {}
  compose.services[name] = {
    ...base,
    ...over,
    environment: { ...base.environment, ...over.environment },
    depends_on: { ...base.depends_on, ...over.depends_on },
    healthcheck: { ...base.healthcheck, ...over.healthcheck },
  }
}
const composeScript = readFileSync(join(root, '.ci', 'compose-test.sh'), 'utf8')
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)/gm)].map((m) => ({ image: m[1]!, name: m[2]! }))
const imageBuilder = readFileSync(join(root, 'docker', 'build-local-images.sh'), 'utf8')

/** `${NAME:-default}` (compose) or `NAME=${NAME:-default}` (shell): the default. */
function defaultOf(text: string, name: string): string | undefined {
  return new RegExp(`\\$\\{${name}:-([^}]+)\\}`).exec(text)?.[1]
}

/** `firehose <command> --help`, in this process's environment; an exit other than 0 fails the test. */
async function helpOf(command: string): Promise<string> {
  const { code, signal, stdout, stderr } = await runCli([command, '--help'], { env: process.env })
  if (code !== 0) throw new Error(`firehose ${command} --help: exit ${code ?? signal}: ${stderr}`)
  return stdout
}

/** The long flags `firehose <command> --help` lists. */
async function flagsOf(command: string): Promise<Set<string>> {
  const stdout = await helpOf(command)
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

  it("runs node with the flags of the firehose bin's shebang (NODE_OPTIONS: the entrypoint runs node itself)", () => {
    const shebang = /^#!\/usr\/bin\/env -S node (.+)$/.exec(readFileSync(join(root, 'cli/index.ts'), 'utf8').split('\n', 1)[0]!)?.[1]
    expect(shebang).toMatch(/^--max-semi-space-size=\d+$/)
    expect(/^\s+NODE_OPTIONS=(\S+) \\$/m.exec(dockerfile.slice(dockerfile.indexOf('AS runtime')))?.[1]).toBe(shebang)
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

  it.concurrent('the health port it probes is the one the ingestor is told to serve', async ({ expect }) => {
    expect(dockerfile).toMatch(/FIREHOSE_HEALTH_PORT=8080/)
    expect(await flagsOf('ingest')).toContain('--health-port')
  })

  it.concurrent('sets the health host to 0.0.0.0 explicitly: the CLI listens on 127.0.0.1 unless told otherwise', async ({ expect }) => {
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'))
    expect(runtime).toMatch(/^\s*FIREHOSE_HEALTH_HOST=0\.0\.0\.0\s*$/m)
    const stdout = await helpOf('ingest')
    expect(stdout.replace(/\s+/g, ' ')).toMatch(/--health-host <address> .*\(default: "127\.0\.0\.1", env: FIREHOSE_HEALTH_HOST\)/)
  })
})

describe('examples/docker-compose.yml: the production service to copy', () => {
  const firehose = example.services.firehose!

  it.concurrent("runs the image as `ingest` on the legacy consumer's variables, each one the CLI reads", async ({ expect }) => {
    expect(firehose.command).toEqual(['ingest'])
    expect(firehose.environment).toMatchObject({ RELAY_URL: '${RELAY_URL:-wss://bsky.network}', REDIS_URL: 'redis://redis:6379', REDIS_STREAM_KEY: 'firehose:events' })
    const help = (await helpOf('ingest')).replace(/\s+/g, ' ')
    const commented = [...readFileSync(join(root, 'examples/docker-compose.yml'), 'utf8').matchAll(/^\s+# (FIREHOSE_[A-Z_]+):/gm)].map((m) => m[1]!)
    expect(commented).toContain('FIREHOSE_LEGACY_CURSOR_KEY')
    for (const variable of [...Object.keys(firehose.environment!), ...commented]) expect(help, variable).toContain(`env: ${variable}`)
  })

  it('serves health on 0.0.0.0 inside the container only, checks /ready, restarts, drains within its stop grace, and has a memory limit above the measured RSS', () => {
    expect(firehose.environment).toMatchObject({ FIREHOSE_HEALTH_PORT: '8080', FIREHOSE_HEALTH_HOST: '0.0.0.0' })
    expect(firehose.healthcheck!.test!.join(' ')).toContain('http://127.0.0.1:8080/ready')
    expect(firehose.restart).toBe('unless-stopped')
    // SIGTERM drains within 10 s (cli/commands/ingest.ts SHUTDOWN_GRACE_MS).
    expect(Number(/^(\d+)s$/.exec(firehose.stop_grace_period ?? '')?.[1])).toBeGreaterThan(10)
    // docs/performance.md: max RSS 150-175 MiB at full load.
    expect(Number(/^(\d+)m$/.exec(firehose.mem_limit ?? '')?.[1])).toBeGreaterThanOrEqual(256)
    expect(firehose.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } })
  })
})

describe('docker-compose.test.yml on top of the example (what CI runs)', () => {
  it('is run by .ci/compose-test.sh on top of the example, from the repository root', () => {
    expect(composeScript).toMatch(/docker-compose --project-directory \. -p \S+ -f examples\/docker-compose\.yml -f docker-compose\.test\.yml/)
  })

  it('has redis (the offline local image by default, the one the harness runs) with AOF on, replay, the firehose service and a runner', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['firehose', 'redis', 'replay', 'runner'])
    const redis = compose.services.redis!
    expect(redis.image).toBe(`\${REDIS_IMAGE:-${DEFAULT_REDIS_IMAGE}}`)
    expect(defaultOf(imageBuilder, 'HARNESS_REDIS_IMAGE')).toBe(DEFAULT_REDIS_IMAGE)
    // The local image has no entrypoint adding --protected-mode no (the official one does).
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--protected-mode', 'no']))
  })

  it('builds one image, the runtime stage, and runs firehose, replay and runner from it', () => {
    for (const name of ['firehose', 'replay', 'runner']) expect(stageOf(compose.services[name]!), name).toBe('runtime')
    expect(compose.services.replay!.build?.context).toBe('.')
    // The others run the image the replay service builds, so that image must exist first.
    expect(compose.services.firehose!.image).toBe(compose.services.replay!.image)
    expect(compose.services.runner!.image).toBe(compose.services.replay!.image)
    expect(compose.services.firehose!.depends_on).toHaveProperty('replay')
  })

  it.concurrent('points the firehose service at the replay service, and runs the replay with flags the CLI has', async ({ expect }) => {
    const replay = compose.services.replay!.command!
    expect(compose.services.firehose!.environment!.RELAY_URL).toBe(`ws://replay:${replay[replay.indexOf('--port') + 1]}`)
    expect(compose.services.firehose!.environment!.FIREHOSE_CURSOR).toBe('0')
    expect(replay[0]).toBe('replay')
    const replayFlags = await flagsOf('replay')
    for (const flag of flagsUsed(replay)) expect(replayFlags, flag).toContain(flag)
    expect(existsSync(join(root, replay[replay.length - 1]!))).toBe(true)
  })

  it.concurrent("verifies the firehose service's stream against the fixture the replay feeds it, waiting while it writes", async ({ expect }) => {
    const runner = compose.services.runner!
    const verify = runner.command!
    expect(verify[0]).toBe('verify')
    const verifyFlags = await flagsOf('verify')
    for (const flag of flagsUsed(verify)) expect(verifyFlags, flag).toContain(flag)
    const env = compose.services.firehose!.environment!
    const replay = compose.services.replay!.command!
    expect(verify[verify.indexOf('--stream') + 1]).toBe(env.REDIS_STREAM_KEY)
    expect(verify[verify.indexOf('--fixture') + 1]).toBe(replay[replay.length - 1])
    expect(verify[verify.indexOf('--redis') + 1]).toBe(env.REDIS_URL)
    expect(Number(verify[verify.indexOf('--wait') + 1])).toBeGreaterThan(0)
    expect(runner.depends_on).toMatchObject({ firehose: { condition: 'service_healthy' } })
  })

  it('gives every long-running service a healthcheck', () => {
    for (const name of ['redis', 'replay', 'firehose']) expect(compose.services[name]!.healthcheck?.test?.length, name).toBeGreaterThan(0)
  })
})
