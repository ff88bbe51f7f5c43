import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it, vi } from 'vitest'
import { DEV_TOOL_FOLDERS, DevToolMissing, loadCommandTools, loadDevTool } from '../../cli/dev-tools.js'
import { repoRoot } from '../ingestor/helpers.js'

/**
 * The floors of the house, lowest first: a folder imports only from its own floor's folder or from
 * lower floors, so each floor can be read (and changed) knowing only what lies beneath it.
 * README, "Layout", says what each folder is.
 */
const FLOORS: readonly (readonly string[])[] = [
  ['common'],
  ['protocol'],
  ['fixture-file', 'client', 'repo-sync'],
  ['generator', 'ingestor', 'consumer', 'recorder', 'replay'],
  ['stream-check', 'backfill'],
  ['harness'],
  ['loadtest'],
  ['cli', 'testing', 'bench', '(root)'],
]
/** Left out of the production image (.dockerignore): only CLI commands reach them, through cli/dev-tools.ts. */
const NOT_IN_IMAGE = [...DEV_TOOL_FOLDERS, 'bench', 'testing']

interface Import {
  from: string
  to: string
  kind: 'static' | 'type' | 'dynamic'
}

function productionFiles(): string[] {
  const { include } = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.json'), 'utf8')) as { include: string[] }
  const files: string[] = []
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) files.push(relative(repoRoot, path))
  }
  for (const entry of include) walk(join(repoRoot, entry))
  return files
}

function importsOf(file: string): Import[] {
  const source = readFileSync(join(repoRoot, file), 'utf8')
  const found: Import[] = []
  for (const match of source.matchAll(/^(?:import|export)(\s+type)?\s[^'";]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gm)) {
    const spec = match[2] ?? match[3]!
    const kind = match[3] !== undefined ? 'dynamic' : match[1] !== undefined ? 'type' : 'static'
    found.push({ from: file, to: normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts'), kind })
  }
  return found
}

const folderOf = (file: string): string => (file.includes('/') ? file.split('/')[0]! : '(root)')
const floorOf = (folder: string): number => FLOORS.findIndex((floor) => floor.includes(folder))

const files = productionFiles()
const imports = files.flatMap(importsOf)

describe('every production folder has a floor (a new folder must be placed)', () => {
  it('lists each folder of tsconfig.json in FLOORS', () => {
    expect([...new Set(files.map(folderOf))].filter((folder) => floorOf(folder) === -1)).toEqual([])
  })
})

describe('no import goes up or sideways: a floor depends only on the floors beneath it', () => {
  it('finds none', () => {
    const bad = imports.filter(({ from, to }) => {
      const [a, b] = [folderOf(from), folderOf(to)]
      return a !== b && floorOf(b) >= floorOf(a)
    })
    expect(bad.map(({ from, to }) => `${from} -> ${to}`)).toEqual([])
  })
})

describe('no import cycle between files (types included): each file can be read after what it imports', () => {
  it('finds none', () => {
    const edges = new Map<string, string[]>()
    for (const { from, to, kind } of imports) if (kind !== 'dynamic') edges.set(from, [...(edges.get(from) ?? []), to])
    const state = new Map<string, 'open' | 'done'>()
    const cycles: string[] = []
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '))
        return
      }
      state.set(file, 'open')
      for (const next of edges.get(file) ?? []) visit(next, [...path, file])
      state.set(file, 'done')
    }
    for (const file of files) visit(file, [])
    expect(cycles).toEqual([])
  })
})

describe('the production image holds no test code: only commands load it, lazily, through loadDevTool', () => {
  it('has no static import of the left-out folders from the shipped ones', () => {
    const bad = imports.filter(({ from, to, kind }) => kind === 'static' && !NOT_IN_IMAGE.includes(folderOf(from)) && NOT_IN_IMAGE.includes(folderOf(to)))
    expect(bad.map(({ from, to }) => `${from} -> ${to}`)).toEqual([])
  })

  it('loads them only in files that go through loadDevTool', () => {
    const loaders = new Set(imports.filter(({ from, to, kind }) => kind === 'dynamic' && !NOT_IN_IMAGE.includes(folderOf(from)) && NOT_IN_IMAGE.includes(folderOf(to))).map(({ from }) => from))
    expect([...loaders].filter((file) => !/\b(loadDevTool|loadCommandTools)\(/.test(readFileSync(join(repoRoot, file), 'utf8')))).toEqual([])
  })

  it('leaves each of them out in .dockerignore', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n')
    expect(NOT_IN_IMAGE.filter((folder) => !ignored.includes(`dist/${folder}`))).toEqual([])
  })

  it('turns a left-out module into a one-line DevToolMissing naming the command', async () => {
    const absent = pathToFileURL(join(repoRoot, 'no-such-install/dist/harness/scenarios/index.js')).href
    const failure = await loadDevTool('scenario', () => import(absent)).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(DevToolMissing)
    expect((failure as Error).message).toMatch(/^firehose scenario needs the test tools[^\n]*npm ci$/)
  })

  it('lets a command print that line and exit 2 (loadCommandTools resolves null)', async () => {
    const absent = pathToFileURL(join(repoRoot, 'no-such-install/dist/loadtest/run.js')).href
    const written: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      expect(await loadCommandTools('loadtest', () => import(absent))).toBeNull()
    } finally {
      spy.mockRestore()
    }
    expect(written).toEqual([expect.stringMatching(/^firehose loadtest needs the test tools[^\n]*\n$/)])
  })

  it('passes any other failure through', async () => {
    const absent = pathToFileURL(join(repoRoot, 'no-such-install/dist/replay/index.js')).href
    const failure = await loadDevTool('replay', () => import(absent)).catch((err: unknown) => err)
    expect(failure).not.toBeInstanceOf(DevToolMissing)
    expect((failure as NodeJS.ErrnoException).code).toBe('ERR_MODULE_NOT_FOUND')
  })
})
