import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

/**
 * The packages `cli/index.ts` loads before any command runs: its static imports, followed through
 * our own modules. Each command imports its heavy parts when it runs (`await import`), so
 * `firehose --help` or a usage error does not pay for them (~0.2 s of CPU to start, was ~0.4).
 */
function packagesLoadedAtStart(): Map<string, string[]> {
  const parents = new Map<string, string | null>([[join(root, 'cli/index.ts'), null]])
  const queue = [...parents.keys()]
  const packages = new Map<string, string[]>()
  const chainTo = (file: string): string[] => {
    const chain: string[] = []
    for (let at: string | null | undefined = file; at; at = parents.get(at)) chain.unshift(at.slice(root.length + 1))
    return chain
  }
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    // Static imports only: `import type` is erased, `await import(...)` is what runs later.
    for (const [, clause, spec] of readFileSync(file, 'utf8').matchAll(/^import\s+(type\s+)?(?:[^'"]*?from\s+)?['"]([^'"]+)['"]/gm)) {
      if (clause !== undefined || spec!.startsWith('node:')) continue
      if (spec!.startsWith('.')) {
        const source = resolve(dirname(file), spec!).replace(/\.js$/, '.ts')
        if (existsSync(source) && !parents.has(source)) {
          parents.set(source, file)
          queue.push(source)
        }
      } else {
        const name = spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!
        if (!packages.has(name)) packages.set(name, chainTo(file))
      }
    }
  }
  return packages
}

describe('the CLI starts without its heavy parts (a usage error or --help is quick)', () => {
  it('loads no Redis client, CBOR codec, CID library, WebSocket or crypto package before a command runs', () => {
    const loaded = packagesLoadedAtStart()
    for (const heavy of ['ioredis', '@ipld/dag-cbor', 'multiformats', 'ws', '@atproto/crypto', '@atproto/repo', '@noble/curves']) {
      expect(loaded.get(heavy), `${heavy} is loaded at start through`).toBeUndefined()
    }
    expect([...loaded.keys()]).toContain('commander')
  })
})
