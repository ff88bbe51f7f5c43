import { spawnSync } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MST, MemoryBlockstore, readCarWithRoot } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { createRepoFetcher } from '../repo-sync/create-fetcher.js'
import { writeGeneratedRepo } from './generated-repo.js'
import { measurePeakRss, mib } from './peak-rss.js'

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
    const { did, bytes } = await writeGeneratedRepo(file, { seed: 1, index: 0, records: args.records, kind: 'social' })
    console.log(`repo: ${args.records} records, CAR ${mib(bytes)}`)
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
    const ours = await measurePeakRss(async () => {
      const { fetcher } = createRepoFetcher({ did: { plcUrl: 'https://plc.invalid' }, allowPrivateHosts: true, memoryBytes: args.memoryMib * 1024 * 1024, spillDir: dirname(args.file) })
      const repo = await fetcher.fetchRepo(args.did, { source })
      let records = 0
      for await (const record of repo.records()) records += record.bytes.byteLength > 0 ? 1 : 0
      return { records, blocks: repo.stats.blocks, spilled: repo.stats.spilledBytes, held: repo.stats.heldBytes }
    })
    server.close()
    console.log(
      `repo-sync fetchRepo, memory budget ${args.memoryMib} MiB: ${ours.seconds.toFixed(1)} s, peak RSS +${mib(ours.peakRss - ours.baseRss)}; the store holds ${mib(ours.result.held)} (slabs, index, write batch: ${(ours.result.held / ours.result.blocks).toFixed(0)} bytes per block); ${ours.result.blocks} blocks, ${mib(ours.result.spilled)} spilled, ${ours.result.records} records`,
    )
  } else {
    const peer = await measurePeakRss(async () => {
      const { root, blocks } = await readCarWithRoot(await readFile(args.file))
      const commit = dagCbor.decode<{ data: Parameters<typeof MST.load>[1] }>(blocks.get(root)!)
      let records = 0
      for (const leaf of await MST.load(new MemoryBlockstore(blocks), commit.data).list()) records += blocks.get(leaf.value) !== undefined ? 1 : 0
      return { records }
    })
    console.log(`@atproto/repo readCarWithRoot + MST list: ${peer.seconds.toFixed(1)} s, peak RSS +${mib(peer.peakRss - peer.baseRss)}, ${peer.result.records} records`)
  }
}

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
