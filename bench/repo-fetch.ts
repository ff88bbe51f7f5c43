import { spawnSync } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MST, MemoryBlockstore, readCarWithRoot } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { SeededRandom } from '../common/random.js'
import { AccountRepo, type RecordWrite } from '../generator/account-repo.js'
import { createIdentity, importKeypair } from '../generator/identity.js'
import * as lex from '../generator/records.js'
import { tidFromTime } from '../generator/tid.js'
import { createRepoFetcher } from '../repo-sync/create-fetcher.js'

/**
 * Memory and time of fetching one large repository (repo-sync/repo-fetcher.ts), against
 * @atproto/repo reading the same CAR (readCarWithRoot + MST list: the whole CAR in memory), in
 * the same run. The repo: `--records` likes and follows made by the generator (its MST builder
 * and signing), written to a temp file and served over local HTTP from that file (streamed, so
 * the server holds none of it). Memory: the peak RSS over the fetch and the reading of every
 * record (sampled every 20 ms) above the level before (garbage not yet collected included), and
 * for repo-sync what its block store holds (FetchStats.heldBytes). Each reader runs in a process
 * of its own.
 *
 * node dist/bench/repo-fetch.js [--records N] [--memory-mib M]   (no assertions; prints numbers)
 * (1,000,000 records: node --max-old-space-size=12000 ..., for the generator and @atproto/repo)
 */
async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.measure !== null) return measureInChild(args)
  const dir = await mkdtemp(join(tmpdir(), 'repo-fetch-bench-'))
  try {
    const file = join(dir, 'repo.car')
    const did = await writeRepo(file, args.records)
    console.log(`repo: ${args.records} records, CAR ${mib((await stat(file)).size)}`)
    // Each reader in a process of its own, so neither pays for the generator's garbage or the other's.
    for (const reader of ['ours', 'peer'] as const) {
      const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), '--measure', reader, '--file', file, '--did', did, '--memory-mib', String(args.memoryMib)], {
        encoding: 'utf8',
      })
      process.stdout.write(child.stdout)
      if (child.status !== 0) throw new Error(`${reader}: ${child.stderr}`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function measureInChild(args: Args): Promise<void> {
  if (args.measure === 'ours') {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
      createReadStream(args.file).pipe(res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const source = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    const ours = await measure(async () => {
      const { fetcher } = createRepoFetcher({ did: { plcUrl: 'https://plc.invalid' }, allowPrivateHosts: true, memoryBytes: args.memoryMib * 1024 * 1024, spillDir: dirname(args.file) })
      const repo = await fetcher.fetchRepo(args.did, { source })
      let records = 0
      for await (const record of repo.records()) records += record.bytes.byteLength > 0 ? 1 : 0
      return { records, blocks: repo.stats.blocks, spilled: repo.stats.spilledBytes, held: repo.stats.heldBytes }
    })
    server.close()
    console.log(
      `repo-sync fetchRepo, memory budget ${args.memoryMib} MiB: ${ours.seconds.toFixed(1)} s, peak RSS +${mib(ours.peakRss)}; the store holds ${mib(ours.result.held)} (slabs, index, write batch: ${(ours.result.held / ours.result.blocks).toFixed(0)} bytes per block); ${ours.result.blocks} blocks, ${mib(ours.result.spilled)} spilled, ${ours.result.records} records`,
    )
  } else {
    const peer = await measure(async () => {
      const { root, blocks } = await readCarWithRoot(await readFile(args.file))
      const commit = dagCbor.decode<{ data: Parameters<typeof MST.load>[1] }>(blocks.get(root)!)
      let records = 0
      for (const leaf of await MST.load(new MemoryBlockstore(blocks), commit.data).list()) records += blocks.get(leaf.value) !== undefined ? 1 : 0
      return { records }
    })
    console.log(`@atproto/repo readCarWithRoot + MST list: ${peer.seconds.toFixed(1)} s, peak RSS +${mib(peer.peakRss)}, ${peer.result.records} records`)
  }
}

/** A generated account's repo of `count` records (likes and follows, as most of a large real repo), as a CAR file; returns its DID. */
async function writeRepo(file: string, count: number): Promise<string> {
  const identity = createIdentity(1, 0)
  const random = new SeededRandom(1)
  const startUs = Date.UTC(2024, 0, 1) * 1000
  const writes: RecordWrite[] = []
  for (let i = 0; i < count; i++) {
    const timeUs = startUs + i * 1_000_000
    const other = `did:plc:${tidFromTime(timeUs + random.int(0, 1e9), 1)}${'a'.repeat(11)}`
    const record = random.bool(0.8)
      ? lex.like({ uri: `at://${other}/app.bsky.feed.post/${tidFromTime(timeUs - random.int(1, 1e9), 3)}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, timeUs / 1000)
      : lex.follow(other, timeUs / 1000)
    writes.push({ action: 'create', collection: record.$type, rkey: tidFromTime(timeUs, identity.clockId), record })
  }
  const { commit } = await AccountRepo.create(identity.did, await importKeypair(identity), writes, tidFromTime(startUs + count * 1_000_000, identity.clockId), true)
  await writeFile(file, commit!.car)
  return identity.did
}

/** Runs `run`, sampling the RSS every 20 ms: its peak growth over the level before, garbage and buffers included. */
async function measure<T>(run: () => Promise<T>): Promise<{ seconds: number; peakRss: number; result: T }> {
  ;(globalThis as { gc?: () => void }).gc?.()
  const base = process.memoryUsage.rss()
  let peak = 0
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage.rss() - base)
  }
  const sampler = setInterval(sample, 20)
  const start = performance.now()
  try {
    const result = await run()
    sample()
    return { seconds: (performance.now() - start) / 1000, peakRss: peak, result }
  } finally {
    clearInterval(sampler)
  }
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

interface Args {
  records: number
  memoryMib: number
  measure: 'ours' | 'peer' | null
  file: string
  did: string
}

function parseArgs(argv: string[]): Args {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name)
    return at === -1 ? undefined : argv[at + 1]
  }
  const measure = value('--measure')
  return {
    records: Number(value('--records') ?? 200_000),
    memoryMib: Number(value('--memory-mib') ?? 32),
    measure: measure === 'ours' || measure === 'peer' ? measure : null,
    file: value('--file') ?? '',
    did: value('--did') ?? '',
  }
}

await main()
