import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { MemoryBlockstore, Repo, WriteOpAction } from '@atproto/repo'
import { SeededRandom } from '../common/random.js'
import { generateFixture } from '../generator/index.js'
import { tidFromTime } from '../generator/tid.js'

/**
 * Generation speed of `generateFixture` (planned, signed, framed, gzip-written events/s), in
 * this thread and over worker threads, against a named peer measured in the same run:
 * @atproto/repo's plain `Repo.applyWrites` loop (one signed single-like commit per event over
 * the same number of repos, no proofs, no CAR, no framing, no file). The peer does strictly
 * less work per event; the ratio says what the realism costs.
 *
 * Besides wall-clock events/s it prints events per CPU-second (process.cpuUsage, all threads):
 * on a shared machine the wall clock mostly measures the neighbours.
 *
 * node dist/bench/generate.js [--events N] [--accounts A]   (no assertions; prints numbers)
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const flag = (name: string, fallback: number): number => {
    const i = args.indexOf(name)
    return i >= 0 ? Number(args[i + 1]) : fallback
  }
  const events = flag('--events', 3000)
  const accounts = flag('--accounts', Math.max(10, Math.round(events / 20)))
  const dir = await mkdtemp(join(tmpdir(), 'bench-generate-'))
  console.log(`node ${process.version}, ${availableParallelism()} cores, ${events} events over ${accounts} accounts\n`)
  try {
    const peer = await measure(() => applyWritesLoop(events, accounts))
    console.log(`peer  @atproto/repo Repo.applyWrites loop: ${peer.wall.toFixed(0)} events/s, ${peer.cpu.toFixed(0)} events/cpu-s`)
    for (const workers of [0, Math.min(4, availableParallelism())]) {
      const ours = await measure(async () => {
        await generateFixture({ out: join(dir, `w${workers}.fixture.gz`), events, accounts, seed: 1, workers })
        return events
      })
      console.log(
        `ours  generateFixture, workers=${workers}: ${ours.wall.toFixed(0)} events/s, ${ours.cpu.toFixed(0)} events/cpu-s` +
          `  (ratio vs peer: wall ${(ours.wall / peer.wall).toFixed(2)}x, cpu ${(ours.cpu / peer.cpu).toFixed(2)}x)`,
      )
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs `work` (which returns how many events it made) and rates it by wall clock and by CPU time of all threads. */
async function measure(work: () => Promise<number>): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  const events = await work()
  const wallSeconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { wall: events / wallSeconds, cpu: events / ((cpu.user + cpu.system) / 1e6) }
}

async function applyWritesLoop(events: number, accounts: number): Promise<number> {
  const random = new SeededRandom(1)
  const repos: Repo[] = []
  const keys: Secp256k1Keypair[] = []
  for (let i = 0; i < accounts; i++) {
    const key = await Secp256k1Keypair.import(random.bytes(32))
    keys.push(key)
    repos.push(await Repo.create(new MemoryBlockstore(), `did:plc:bench${String(i).padStart(16, 'a')}`, key))
  }
  for (let n = 0; n < events; n++) {
    const i = n % accounts
    const timeUs = 1.75e15 + n * 1000
    const record = {
      $type: 'app.bsky.feed.like',
      subject: { uri: `at://did:plc:bench/app.bsky.feed.post/${tidFromTime(timeUs - 1e9, 1)}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
      createdAt: new Date(timeUs / 1000).toISOString(),
    }
    repos[i] = await repos[i]!.applyWrites({ action: WriteOpAction.Create, collection: 'app.bsky.feed.like', rkey: tidFromTime(timeUs, 1), record }, keys[i]!)
  }
  return events
}

await main()
