import { createECDH, createPrivateKey, createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import { verifySignature } from '@atproto/crypto'
import { secp256k1 as noble } from '@noble/curves/secp256k1'
import { base58btc } from 'multiformats/bases/base58'
import { LruCache } from '../common/lru-cache.js'
import { SeededRandom } from '../common/random.js'
import { G_COMB_BYTES, HOT_KEY_BYTES, DEFAULT_KEY_CACHE, Secp256k1Verifier } from '../protocol/secp256k1/index.js'
import { gComb } from '../protocol/secp256k1/g-table.js'
import { parseSigningKey, signatureValid } from '../protocol/signing-key.js'
import { ZIPF_FIXTURE } from './verify-fixture.js'

/**
 * CPU per secp256k1 signature check (process.cpuUsage, user + system; the SHA-256 of a 200-byte
 * message included in every candidate), in the same run, interleaved rounds after a warm-up:
 * - ours with the key's comb (hot), without (cold, point cached), and for a key never seen (read
 *   from its uncompressed form, as signatureValid passes it, or from its compressed form: a square root);
 * - node:crypto (OpenSSL) with the key's KeyObject cached (the previous path for a key in its
 *   LRU) and with it created (the previous path for any other key): the named peer of the ratios;
 * - @noble/curves' verify (what @atproto/crypto runs) and @atproto/crypto's verifySignature.
 * Then the Zipf mix: ZIPF_FIXTURE's shape (events over accounts, activity exponent) through
 * signatureValid (protocol/signing-key.ts, default options) and through the previous node:crypto
 * path (10,000 KeyObjects, LRU). Then what precomputation costs: G's comb, one key's comb, and the
 * bytes a hot and a known key hold (heap and array buffers after a GC; needs --expose-gc).
 *
 * node --expose-gc dist/bench/secp256k1.js [--keys K] [--rounds R]
 */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const SPKI_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex')
const WARMUP_ROUNDS = 2
/** The pure-JS peers take ~1.5 ms a check: they are timed on this many keys a round. */
const SLOW_PEER_KEYS = 40

interface Signer {
  /** Compressed, as in the did:key. */
  key: Buffer
  /** Uncompressed, as signatureValid passes it. */
  point: Buffer
  keyObject: KeyObject
  didKey: string
  message: Buffer
  digest: Buffer
  sig: Buffer
}

/** A key from the seeded random and its low-S signature of a random message (OpenSSL signs; s folded to n - s when high). */
function signer(random: SeededRandom): Signer {
  const d = Buffer.from(Array.from({ length: 32 }, () => random.int(0, 255)))
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(d)
  const point = ecdh.getPublicKey()
  const jwk = { kty: 'EC', crv: 'secp256k1', d: d.toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }
  const message = Buffer.from(Array.from({ length: 200 }, () => random.int(0, 255)))
  const sig = sign('sha256', message, { key: createPrivateKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' })
  const s = BigInt(`0x${sig.subarray(32).toString('hex')}`)
  if (s > N >> 1n) sig.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32)
  const key = ecdh.getPublicKey(null, 'compressed')
  const keyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' })
  return { key, point, keyObject, didKey: `did:key:${base58btc.encode(Buffer.concat([Buffer.from([0xe7, 0x01]), key]))}`, message, digest: hash('sha256', message, 'buffer'), sig }
}

const cpuMs = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from)
  return (used.user + used.system) / 1000
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const random = new SeededRandom(0x5ec9)
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )

  let started = process.cpuUsage()
  gComb()
  const gCombMs = cpuMs(started)
  const signers = Array.from({ length: args.keys }, () => signer(random))
  const hot = new Secp256k1Verifier({ hotAfter: 1 })
  const cold = new Secp256k1Verifier({ hotAfter: Infinity })
  const fresh = new Secp256k1Verifier({ hotAfter: Infinity, maxKnownKeys: 1 })
  const freshCompressed = new Secp256k1Verifier({ hotAfter: Infinity, maxKnownKeys: 1 })
  const ours = (verifier: Secp256k1Verifier) => (s: Signer) => verifier.verify(s.point, hash('sha256', s.message, 'buffer'), s.sig)
  const candidates: { name: string; keys: number; check: (s: Signer) => boolean | Promise<boolean> }[] = [
    { name: 'ours, hot key (comb)', keys: args.keys, check: ours(hot) },
    { name: 'ours, cold key (point cached)', keys: args.keys, check: ours(cold) },
    { name: 'ours, key never seen', keys: args.keys, check: ours(fresh) },
    { name: 'ours, key never seen, compressed', keys: args.keys, check: (s) => freshCompressed.verify(s.key, hash('sha256', s.message, 'buffer'), s.sig) },
    { name: 'node:crypto, KeyObject cached', keys: args.keys, check: (s) => verify('sha256', s.message, { key: s.keyObject, dsaEncoding: 'ieee-p1363' }, s.sig) },
    {
      name: 'node:crypto, KeyObject created',
      keys: args.keys,
      check: (s) => verify('sha256', s.message, { key: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, s.key]), format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, s.sig),
    },
    { name: '@noble/curves verify', keys: SLOW_PEER_KEYS, check: (s) => noble.verify(s.sig, hash('sha256', s.message, 'buffer'), s.key, { lowS: true, format: 'compact' }) },
    { name: '@atproto/crypto verifySignature', keys: SLOW_PEER_KEYS, check: (s) => verifySignature(s.didKey, s.message, s.sig) },
  ]
  const totals = candidates.map(() => ({ ms: 0, checks: 0 }))
  for (let round = 0; round < WARMUP_ROUNDS + args.rounds; round++) {
    for (const [i, candidate] of candidates.entries()) {
      const from = process.cpuUsage()
      for (const s of signers.slice(0, candidate.keys)) if (!(await candidate.check(s))) throw new Error(`${candidate.name} refused a valid signature`)
      if (round < WARMUP_ROUNDS) continue
      totals[i]!.ms += cpuMs(from)
      totals[i]!.checks += candidate.keys
    }
  }
  const perCheck = totals.map(({ ms, checks }) => ms / checks)
  const peer = perCheck[4]!
  console.log(`\nCPU per check, ${args.keys} keys (the pure-JS peers: ${SLOW_PEER_KEYS}), ${args.rounds} rounds after ${WARMUP_ROUNDS} warm-up rounds:`)
  for (const [i, { name }] of candidates.entries()) console.log(`  ${name.padEnd(34)} ${perCheck[i]!.toFixed(4)} ms   ${(peer / perCheck[i]!).toFixed(2)}x node:crypto (KeyObject cached)`)

  // A key's comb: its first check on a verifier that builds one at once, less a hot check.
  started = process.cpuUsage()
  const building = new Secp256k1Verifier({ hotAfter: 1 })
  for (const s of signers) building.verify(s.point, s.digest, s.sig)
  const combMs = cpuMs(started) / signers.length - perCheck[0]!
  console.log(`\nPrecomputation: G's comb ${gCombMs.toFixed(0)} ms CPU once per thread, at its first check (${(G_COMB_BYTES / 2 ** 20).toFixed(1)} MiB); a key's comb ${combMs.toFixed(3)} ms CPU`)

  await zipfMix(random)
  await memory(signers)
  console.log(
    `\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
}

/** The keys of ZIPF_FIXTURE's accounts as its generator draws them (the i-th most active in proportion to 1 / i^exponent), each check timed through both paths. */
async function zipfMix(random: SeededRandom): Promise<void> {
  const { events, accounts, activityExponent } = ZIPF_FIXTURE
  const cumulative: number[] = []
  for (let i = 0, sum = 0; i < accounts; i++) cumulative.push((sum += 1 / (i + 1) ** activityExponent))
  const drawn = Array.from({ length: events }, () => {
    const target = random.next() * cumulative[accounts - 1]!
    let [low, high] = [0, accounts - 1]
    while (low < high) {
      const mid = (low + high) >> 1
      if (cumulative[mid]! < target) low = mid + 1
      else high = mid
    }
    return low
  })
  const byAccount = new Map<number, { signer: Signer; key: ReturnType<typeof parseSigningKey> }>()
  for (const account of drawn) {
    if (byAccount.has(account)) continue
    const s = signer(random)
    byAccount.set(account, { signer: s, key: parseSigningKey(s.didKey.slice('did:key:'.length)) })
  }
  const uses = new Map<number, number>()
  for (const account of drawn) uses.set(account, (uses.get(account) ?? 0) + 1)
  const once = [...uses.values()].filter((count) => count === 1).length
  // The previous signing-key.ts: node:crypto, 10,000 KeyObjects in an LRU.
  const keyObjects = new LruCache<string, KeyObject>(10_000)
  const previous = (s: Signer, didKey: string): boolean => {
    let keyObject = keyObjects.get(didKey)
    if (keyObject === undefined) keyObjects.set(didKey, (keyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, s.key]), format: 'der', type: 'spki' })), 3_600_000)
    return verify('sha256', s.message, { key: keyObject, dsaEncoding: 'ieee-p1363' }, s.sig)
  }
  let from = process.cpuUsage()
  for (const account of drawn) {
    const { signer: s, key } = byAccount.get(account)!
    if (!signatureValid(key, s.message, s.sig)) throw new Error('signatureValid refused a valid signature')
  }
  const oursMs = cpuMs(from) / events
  from = process.cpuUsage()
  for (const account of drawn) {
    const { signer: s, key } = byAccount.get(account)!
    if (!previous(s, key.didKey)) throw new Error('node:crypto refused a valid signature')
  }
  const previousMs = cpuMs(from) / events
  console.log(`\nZipf mix: ${events} checks over ${accounts} accounts, exponent ${activityExponent}: ${byAccount.size} distinct keys, ${once} seen once (first check of each key included):`)
  console.log(`  signatureValid (ours, hotAfter ${DEFAULT_KEY_CACHE.hotAfter})   ${oursMs.toFixed(4)} ms per check   ${(previousMs / oursMs).toFixed(2)}x the previous path`)
  console.log(`  previous path (node:crypto, KeyObject LRU)   ${previousMs.toFixed(4)} ms per check`)
}

/** Bytes a hot key (comb) and a known key (point) hold, from the heap and array buffers around building many. */
async function memory(signers: Signer[]): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) {
    console.log('Memory per key: run with node --expose-gc')
    return
  }
  // Array buffers are released after the GC that finds them dead: collect, let that run, collect again.
  const held = async (): Promise<number> => {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    const usage = process.memoryUsage()
    return usage.heapUsed + usage.arrayBuffers
  }
  const perKey = async (options: ConstructorParameters<typeof Secp256k1Verifier>[0]): Promise<number> => {
    const before = await held()
    const verifier = new Secp256k1Verifier({ ...options, maxHotKeys: signers.length, maxKnownKeys: signers.length })
    for (const s of signers) verifier.verify(s.point, s.digest, s.sig)
    const bytes = ((await held()) - before) / signers.length
    if (verifier.counts.hot + verifier.counts.cold !== signers.length) throw new Error('not every check reached the key cache')
    return bytes
  }
  const hotBytes = await perKey({ hotAfter: 1 })
  const knownBytes = await perKey({ hotAfter: Infinity })
  const { maxHotKeys, maxKnownKeys } = DEFAULT_KEY_CACHE
  const totalMiB = (maxHotKeys * hotBytes + maxKnownKeys * knownBytes + G_COMB_BYTES) / 2 ** 20
  console.log(`Memory: ${hotBytes.toFixed(0)} bytes per hot key (HOT_KEY_BYTES says ${HOT_KEY_BYTES}), ${knownBytes.toFixed(0)} per known key, measured over ${signers.length} keys`)
  console.log(`  at the defaults (${maxHotKeys} hot keys, ${maxKnownKeys} known, G's comb): ${totalMiB.toFixed(1)} MiB at most per thread that checks signatures`)
}

function parseArgs(argv: string[]): { keys: number; rounds: number } {
  const value = (flag: string, fallback: number): number => {
    const i = argv.indexOf(flag)
    const n = i === -1 ? fallback : Number(argv[i + 1])
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`)
    return n
  }
  return { keys: value('--keys', 400), rounds: value('--rounds', 5) }
}

await main()
