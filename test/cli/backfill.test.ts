import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BackfillErrorCode } from '../../backfill/errors.js'
import { BACKFILL_COUNTERS, backfillMarkerField, BACKFILL_QUEUED, type BackfillFailure } from '../../repo-sync/backfill-fields.js'
import { ownRedisForSuite, tempDir, uniqueKeys } from '../ingestor/helpers.js'
import { CarPds } from '../support/car-pds.js'
import { runCli, type CliResult } from '../support/cli.js'

/** The CLI's exit and output, for an assertion message. */
const shown = (result: CliResult): string => `exit ${result.code}\n${result.stdout}${result.stderr}`

/** The lines `firehose backfill` itself wrote to stderr (not the logger's JSON, not the progress line). */
const errorLines = (result: CliResult): string[] => result.stderr.split('\n').filter((line) => line.startsWith('firehose backfill:') || line.startsWith('error:'))

const DIDS = ['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com', 'did:plc:kzcqyc3unb33eh5sxzsfs25z']

describe.concurrent('firehose backfill: usage errors are one line with exit 2, before anything is done', () => {
  // Redis unreachable: a run that got past the checks would retry, never exit 2.
  const usage = (...args: string[]): Promise<CliResult> => runCli(['backfill', ...args, '--redis', 'redis://127.0.0.1:1'])

  const cases: [string, string[], RegExp][] = [
    ['no selection', [], /exactly one of --all, --collection, --dids/],
    ['two selections', ['--all', '--dids', 'dids.txt'], /exactly one of --all, --collection, --dids/],
    ['three selections', ['--all', '--collection', 'app.bsky.feed.post', '--dids', 'dids.txt'], /exactly one of/],
    ['a wildcard collection', ['--collection', 'app.bsky.feed.post,app.bsky.*'], /"app\.bsky\.\*": listReposByCollection takes exact NSIDs, not wildcards/],
    ['a collection that is not an NSID', ['--collection', 'not an nsid'], /--collection/],
    ['--list-from of another scheme', ['--all', '--list-from', 'ftp://relay.example.com'], /expected a http: or https: URL/],
    ['--list-from that is not a URL', ['--all', '--list-from', 'relay'], /not a valid URL/],
  ]
  for (const [name, args, reason] of cases) {
    it(name, async ({ expect }) => {
      const result = await usage(...args)
      expect(result.code, shown(result)).toBe(2)
      expect(result.stderr.trim().split('\n'), shown(result)).toHaveLength(1)
      expect(result.stderr).toMatch(reason)
      expect(result.stdout).toBe('')
    })
  }
})

describe('firehose backfill against a real redis-server', () => {
  const own = ownRedisForSuite()
  let tmp: ReturnType<typeof tempDir>
  let didsFile: string
  let pds: CarPds
  beforeAll(async () => {
    tmp = tempDir()
    didsFile = join(tmp.dir, 'dids.txt')
    await writeFile(didsFile, ['# the repos to backfill', DIDS[0], '', DIDS[1], DIDS[0], `  ${DIDS[2]}`, ''].join('\n'))
    pds = await CarPds.start()
  })
  afterAll(async () => {
    await pds?.close()
    tmp?.cleanup()
  })
  const backfill = (stream: string, ...args: string[]): Promise<CliResult> => runCli(['backfill', ...args, '--redis', own.redis.url, '--stream', stream])

  it('--dids FILE --no-wait: a marker per DID, the listing stored complete, a one-line summary; --json: one JSON line', async () => {
    const { stream } = uniqueKeys('test:cli-backfill')
    const result = await backfill(stream, '--dids', didsFile, '--no-wait')
    expect(result.code, shown(result)).toBe(0)
    expect(result.stdout).toBe('backfill: 0 of 3 repos done, 0 records; 0 failing, 0 inactive (fetched if their account is active again), 3 waiting; listing complete after 1 pages\n')
    const hash = await own.admin.hgetall(`${stream}:snapshots`)
    expect(Object.fromEntries(Object.entries(hash).filter(([field]) => field.endsWith('#backfill')))).toEqual(Object.fromEntries(DIDS.map((did) => [backfillMarkerField(did), BACKFILL_QUEUED])))
    expect(hash[BACKFILL_COUNTERS.listed]).toBe('3')
    expect(JSON.parse((await own.admin.hget(`${stream}:backfill`, 'listing'))!)).toMatchObject({ complete: true, pages: 1, selection: expect.stringMatching(/^dids:/) })

    // The same again: nothing asked twice.
    const again = await backfill(stream, '--dids', didsFile, '--no-wait', '--json')
    expect(again.code, shown(again)).toBe(0)
    expect(again.stdout.trim().split('\n')).toHaveLength(1)
    expect(JSON.parse(again.stdout)).toMatchObject({ listed: 3, done: 0, failing: 0, listingComplete: true, pages: 1 })
  })

  it('--status: counts and the failing repos with why; --json one JSON line; keys without a backfill: exit 1', async () => {
    const { stream } = uniqueKeys('test:cli-backfill-status')
    expect((await backfill(stream, '--dids', didsFile, '--no-wait')).code).toBe(0)
    // The ingestor's failure write, by hand: the marker says why, the shard counts it failing.
    const failure: BackfillFailure = { code: 'REPO_SYNC_TAKENDOWN', message: 'pds.example.com answered 400 RepoTakendown for did:web:example.com', attempts: 3, atMs: Date.UTC(2025, 5, 1, 12) }
    await own.admin.hset(`${stream}:snapshots`, backfillMarkerField(DIDS[1]!), JSON.stringify(failure))
    await own.admin.hincrby(`${stream}:snapshots`, BACKFILL_COUNTERS.failing, 1)

    const status = await backfill(stream, '--status')
    expect(status.code, shown(status)).toBe(0)
    const lines = status.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^backfill of dids:[0-9a-f]{16}: listing complete, started \d{4}-/)
    expect(lines[1]).toBe('repos: 0 done of 3 listed, 1 failing, 0 inactive (fetched if their account is active again), 2 waiting; 0 records')
    expect(lines.slice(2)).toEqual(['failing:', `  ${DIDS[1]}  REPO_SYNC_TAKENDOWN  3 attempts, last 2025-06-01T12:00:00.000Z: ${failure.message}`])

    const json = await backfill(stream, '--status', '--json')
    expect(json.code, shown(json)).toBe(0)
    expect(json.stdout.trim().split('\n')).toHaveLength(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ listing: { complete: true, pages: 1 }, listed: 3, failing: 1, done: 0, outstanding: 2, failingRepos: [{ did: DIDS[1], ...failure }] })

    const none = await backfill(uniqueKeys('test:cli-backfill-none').stream, '--status')
    expect(none.code, shown(none)).toBe(1)
    expect(none.stdout).toBe('no backfill on these keys\n')
  })

  it('a DIDs file with a line that is not a DID: one error line naming the file and line, with the code; nothing written', async () => {
    const { stream } = uniqueKeys('test:cli-backfill-bad-list')
    const bad = join(tmp.dir, 'bad.txt')
    await writeFile(bad, `${DIDS[0]}\n# fine\nhttps://bsky.app/profile/someone\n`)
    const result = await backfill(stream, '--dids', bad, '--no-wait')
    expect(result.code, shown(result)).toBe(3)
    expect(errorLines(result)).toEqual([`firehose backfill: ${bad}:3: not a DID: "https://bsky.app/profile/someone" [${BackfillErrorCode.BadDidList}]`])
    expect(await own.admin.exists(`${stream}:snapshots`, `${stream}:backfill`)).toBe(0)
  })

  it('a list server answering garbage: one error line with BACKFILL_LIST_BAD_ANSWER, a non-zero exit, nothing marked', async () => {
    const { stream } = uniqueKeys('test:cli-backfill-garbage')
    pds.fail('listRepos', { kind: 'garbage' })
    const result = await backfill(stream, '--all', '--list-from', pds.url.href, '--no-wait')
    expect(result.code, shown(result)).toBe(3)
    expect(errorLines(result), shown(result)).toEqual([expect.stringMatching(new RegExp(`^firehose backfill: .*listRepos with a body that is not JSON \\[${BackfillErrorCode.ListBadAnswer}\\]$`))])
    expect(await own.admin.hget(`${stream}:snapshots`, BACKFILL_COUNTERS.listed)).toBeNull()
  })

  it('--collection from a server without listReposByCollection (501 MethodNotImplemented): one error line with BACKFILL_LIST_STATUS, not a retry for ever', async () => {
    const { stream } = uniqueKeys('test:cli-backfill-501')
    const result = await backfill(stream, '--collection', 'app.bsky.feed.post', '--list-from', pds.url.href, '--no-wait')
    expect(result.code, shown(result)).toBe(3)
    expect(errorLines(result), shown(result)).toEqual([expect.stringMatching(new RegExp(`answered 501 \\(MethodNotImplemented\\).*\\[${BackfillErrorCode.ListStatus}\\]$`))])
  })
})
