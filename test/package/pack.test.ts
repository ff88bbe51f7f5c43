/**
 * The package as a user gets it: `npm pack` (without scripts: packs the dist/ that `npm test`
 * built, and never rebuilds it under the tests that load it), the tarball installed into a
 * scratch project with only its own dependencies, then type-checked and run from there. One
 * pack and one install serve every test in this file.
 */
import { execFile, spawnSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { isBuiltin } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipAllTests } from '../support/skip.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CONSUMER = fileURLToPath(new URL('./consumer/', import.meta.url))
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
const STEP_TIMEOUT_MS = 180_000

interface PackageJson {
  name: string
  version: string
  main?: string
  types?: string
  bin?: Record<string, string>
  exports?: unknown
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson

function npmUnavailableReason(): string | null {
  const result = spawnSync('npm', ['--version'], { encoding: 'utf8' })
  if (result.error !== undefined) return `npm is not available (${result.error.message})`
  return result.status === 0 ? null : `npm --version exited ${result.status}: ${result.stderr.trim()}`
}

/**
 * This process's environment for npm, without the npm_* variables `npm test` sets for its
 * scripts: npm_config_prefix and the like would point the scratch install at this repository.
 * The cache, registry and proxy settings stay, so an offline cache and a CI mirror still apply.
 */
function childEnv(): NodeJS.ProcessEnv {
  const kept = /^npm_config_(cache|registry|userconfig|https?_proxy|proxy|noproxy|cafile|strict_ssl)$/i
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || kept.test(key)))
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: options.cwd, env: options.env ?? childEnv(), maxBuffer: 64 * 1024 * 1024, timeout: STEP_TIMEOUT_MS }, (err, stdout, stderr) => {
      // No numeric code: it did not run to an exit (ENOENT, or killed at the timeout).
      if (err !== null && typeof err.code !== 'number') return reject(new Error(`${command} ${args.join(' ')}: ${err.message}`, { cause: err }))
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr })
    })
  })
}

async function succeed(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  const result = await run(command, args, options)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`)
  return result
}

/** Every file path an `exports`/`main`/`types`/`bin` field names. */
function entryFiles(manifest: PackageJson): string[] {
  const paths: string[] = []
  const walk = (value: unknown): void => {
    if (typeof value === 'string') paths.push(normalize(value))
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk)
  }
  walk([manifest.main, manifest.types, manifest.bin, manifest.exports])
  return paths
}

/** The packages a shipped .js or .d.ts file imports (static, dynamic, re-exports), by package name. */
function importedPackages(source: string): string[] {
  const specifiers = [...source.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)].map((match) => match[1] ?? match[2] ?? match[3]!)
  return specifiers
    .filter((specifier) => !specifier.startsWith('.') && !isBuiltin(specifier))
    .map((specifier) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/'),
    )
}

const npmMissing = npmUnavailableReason()

describe('the packed tarball', () => {
  skipAllTests(npmMissing)

  let work = ''
  let scratch = ''
  let installed = ''
  let files: string[] = []

  beforeAll(async () => {
    if (npmMissing !== null) return
    work = await mkdtemp(join(tmpdir(), 'firehose-pack-'))
    scratch = join(work, 'scratch')
    installed = join(scratch, 'node_modules', pkg.name)
    const packed = await succeed('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT })
    const [tarball] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[]
    files = tarball!.files.map((file) => file.path).sort()
    await mkdir(scratch)
    await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', version: '0.0.0', private: true, type: 'module' }))
    // A consumer has its own @types/node; the one this repository uses is in the npm cache.
    const typesNode = (JSON.parse(await readFile(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version
    // --prefer-offline: what `npm ci` of this repository cached is used as is; only what is missing is fetched.
    await succeed('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--prefix', scratch, join(work, tarball!.filename), `@types/node@${typesNode}`], {
      cwd: scratch,
    })
    await Promise.all(['consumer.ts', 'run.mjs'].map((file) => copyFile(join(CONSUMER, file), join(scratch, file))))
    const compilerOptions = { target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] }
    await writeFile(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }))
  }, STEP_TIMEOUT_MS)

  afterAll(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  it('holds dist (no bench, doc generator, maps or build state), the user docs, README, LICENSE and the demo fixture: no tests, CI, sources or bench results', () => {
    const allowed = [
      /^(package\.json|README\.md|LICENSE)$/,
      /^dist\/(?!bench\/|cli\/docs\/).+(?<!\.d)\.js$/,
      /^dist\/(?!bench\/|cli\/docs\/).+\.d\.ts$/,
      /^docs\/[^/]+\.(md|json)$/,
      /^fixtures\/(README\.md|generated\.fixture\.gz)$/,
    ]
    expect(files.filter((path) => !allowed.some((pattern) => pattern.test(path)))).toEqual([])
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'docs/consumer.md', 'fixtures/generated.fixture.gz', ...entryFiles(pkg)]))
  })

  it('its docs link only to files it ships', async () => {
    const pages = files.filter((path) => path.endsWith('.md') && path !== 'README.md')
    const broken: string[] = []
    for (const page of pages) {
      const text = await readFile(join(installed, page), 'utf8')
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue
        const path = normalize(join(dirname(page), target!))
        if (!files.includes(path)) broken.push(`${page} -> ${target}`)
      }
    }
    expect(broken).toEqual([])
  })

  it('its JavaScript and declarations import only its dependencies and optional peer dependencies', async () => {
    const optionalPeers = Object.keys(pkg.peerDependencies ?? {}).filter((name) => pkg.peerDependenciesMeta?.[name]?.optional === true)
    const declared = new Set([pkg.name, ...Object.keys(pkg.dependencies ?? {}), ...optionalPeers])
    const undeclared: string[] = []
    for (const path of files.filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'))) {
      for (const name of importedPackages(await readFile(join(installed, path), 'utf8'))) if (!declared.has(name)) undeclared.push(`${path}: ${name}`)
    }
    expect(undeclared).toEqual([])
  })

  it.concurrent(
    'type-checks a consumer of both entry points: strict, NodeNext, skipLibCheck false',
    async () => {
      const result = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: scratch })
      expect(result.stdout + result.stderr).toBe('')
      expect(result.code).toBe(0)
    },
    STEP_TIMEOUT_MS,
  )

  it.concurrent(
    'runs both entry points without devDependencies: Redis falls back to a process, saying testcontainers is not installed',
    async () => {
      // HARNESS_REDIS would force a provider (CI may set it); the default choice is under test.
      const env = { ...childEnv(), HARNESS_REDIS: '' }
      const result = await run(process.execPath, ['run.mjs'], { cwd: scratch, env })
      expect(result.code, result.stderr).toBe(0)
      const line = result.stdout.split('\n').find((text) => text.startsWith('RESULT '))
      expect(JSON.parse(line!.slice('RESULT '.length))).toEqual({ redisKind: 'process', frames: 20, ok: true, lost: [], duplicated: [], handled: 20 })
      expect(result.stderr).toContain('harness: Redis provider process: no Redis container (testcontainers is not installed; it is an optional peer dependency')
      expect(result.stderr).not.toContain('Cannot find package')
    },
    STEP_TIMEOUT_MS,
  )

  it.concurrent(
    'installs the firehose command',
    async () => {
      const result = await run(join(scratch, 'node_modules/.bin/firehose'), ['--version'], { cwd: scratch })
      expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` })
    },
    STEP_TIMEOUT_MS,
  )
})
