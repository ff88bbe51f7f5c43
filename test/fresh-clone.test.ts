import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { REAL_DATA } from './shared-data.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** A user's clone has nothing beside it: everything the tests, benches and CI read must be tracked here. */
describe('a fresh clone is self-contained', () => {
  it('the real test data is committed inside the repository', () => {
    expect(REAL_DATA.startsWith(ROOT)).toBe(true)
    expect(existsSync(`${REAL_DATA}/README.md`)).toBe(true)
    const tracked = execFileSync('git', ['ls-files', 'test/data/real'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean)
    expect(tracked.length).toBeGreaterThan(50)
  })

  it('no test, bench, harness or CI file reads anything outside the clone', () => {
    const files = execFileSync('git', ['ls-files', 'test', 'bench', 'harness', '.ci', 'fixtures', 'package.json', 'vitest.config.ts'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((path) => /\.(ts|mjs|js|json)$|^\.ci\//.test(path) && !path.startsWith('test/data/') && path !== 'test/fresh-clone.test.ts')
    const offenders = files.filter((path) => /\.\.\/(\.\.\/)*shared\/data|'shared', 'data'/.test(readFileSync(`${ROOT}/${path}`, 'utf8')))
    expect(offenders).toEqual([])
  })
})
