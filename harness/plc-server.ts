import { createECDH, createHash } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { base58btc } from 'multiformats/bases/base58'

/** A local PLC directory: GET /<did> answers its DID document, 404 for a DID it does not know. */
export interface PlcServer {
  url: string
  /** Requests received so far. */
  requests: () => number
  close: () => Promise<void>
}

/**
 * A local PLC directory for the tests and benches of --verify (a child ingestor cannot see msw): GET /<did>
 * answers the DID document from a fixture's `.did-docs.json`, 404 otherwise. Null when the
 * fixture has no DID documents (frames synthesized from test/data/real).
 */
export async function startPlcServer(fixturePath: string): Promise<PlcServer | null> {
  const docsPath = `${fixturePath}.did-docs.json`
  if (!existsSync(docsPath)) return null
  const docs = JSON.parse(readFileSync(docsPath, 'utf8')) as Record<string, unknown>
  return servePlc((did) => (docs[did] === undefined ? undefined : JSON.stringify(docs[did])), 0)
}

export interface GeneratedPlcOptions {
  /** How many DIDs the directory knows. */
  dids: number
  /** Same seed, same DIDs and keys. */
  seed: number
  /** Each answer waits this long first (plc.directory answers in tens of ms; default 0). */
  latencyMs?: number
}

/**
 * A PLC directory of `dids` generated accounts, each with a real secp256k1 #atproto key (a point
 * of the curve that @atproto/crypto and node:crypto accept), from `seed`: account i's private key
 * is k0 + i, k0 = SHA-256 of the seed, so its public key is the previous one plus G, one point
 * addition (~0.05 ms) where deriving each from a random scalar costs ~0.4-1 ms (50,000: ~3 s).
 * The addition is BigInt arithmetic of its own on purpose: the keys that test our verifier
 * (protocol/secp256k1/) must not come from it (node:crypto derives the first).
 */
export async function startGeneratedPlcServer(options: GeneratedPlcOptions): Promise<PlcServer & { dids: readonly string[] }> {
  const accounts = generatedAccounts(options.dids, options.seed)
  const byDid = new Map(accounts.map((account) => [account.did, account.multikey]))
  const server = await servePlc((did) => {
    const multikey = byDid.get(did)
    return multikey === undefined ? undefined : JSON.stringify(plcDocument(did, multikey))
  }, options.latencyMs ?? 0)
  return { ...server, dids: accounts.map((account) => account.did) }
}

async function servePlc(document: (did: string) => string | undefined, latencyMs: number): Promise<PlcServer> {
  let requests = 0
  const server: Server = createServer((req, res) => {
    requests++
    const doc = document(decodeURIComponent((req.url ?? '/').slice(1)))
    const answer = (): void => {
      res.writeHead(doc === undefined ? 404 : 200, { 'content-type': 'application/json' })
      res.end(doc ?? '')
    }
    if (latencyMs > 0) void sleep(latencyMs).then(answer)
    else answer()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A document as plc.directory serves it: the #atproto Multikey and a PDS. */
function plcDocument(did: string, multikey: string): Record<string, unknown> {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1', 'https://w3id.org/security/suites/secp256k1-2019/v1'],
    id: did,
    alsoKnownAs: [`at://${did.slice('did:plc:'.length)}.bench.test`],
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: multikey }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.bench.test' }],
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
/** secp256k1 (SEC 2): the field prime, the group order and the generator G. */
const P = 2n ** 256n - 2n ** 32n - 977n
const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')
const GX = BigInt('0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798')
const GY = BigInt('0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8')
/** Multicodec secp256k1-pub, as a varint: the prefix of an atproto Multikey. */
const SECP256K1_PUB = [0xe7, 0x01]

/** Account i: a did:plc from the seed, and the multikey of private key k0 + i. */
function generatedAccounts(count: number, seed: number): { did: string; multikey: string }[] {
  const k0 = BigInt(`0x${createHash('sha256').update(`plc-server:${seed}`).digest('hex')}`) % N
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(Buffer.from(k0.toString(16).padStart(64, '0'), 'hex'))
  const first = ecdh.getPublicKey()
  let x = BigInt(`0x${first.subarray(1, 33).toString('hex')}`)
  let y = BigInt(`0x${first.subarray(33).toString('hex')}`)
  const accounts: { did: string; multikey: string }[] = []
  for (let i = 0; i < count; i++) {
    const hash = createHash('sha256').update(`plc-server:${seed}:did:${i}`).digest()
    const did = `did:plc:${Array.from(hash.subarray(0, 24), (byte) => BASE32[byte & 31]).join('')}`
    const compressed = [y & 1n ? 3 : 2, ...Buffer.from(x.toString(16).padStart(64, '0'), 'hex')]
    accounts.push({ did, multikey: base58btc.encode(Uint8Array.from([...SECP256K1_PUB, ...compressed])) })
    ;[x, y] = plusG(x, y)
  }
  return accounts
}

/** (x, y) + G in affine coordinates (x differs from G's for every point but ±G, which k0 + i never is in practice). */
function plusG(x: bigint, y: bigint): [bigint, bigint] {
  const slope = mod((GY - y) * inverse(GX - x))
  const x3 = mod(slope * slope - x - GX)
  return [x3, mod(slope * (x - x3) - y)]
}

function mod(a: bigint): bigint {
  const r = a % P
  return r < 0n ? r + P : r
}

/** a^-1 mod P by the extended Euclidean algorithm. */
function inverse(a: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a), P, 1n, 0n]
  while (r1 !== 0n) {
    const q = r0 / r1
    ;[r0, r1] = [r1, r0 - q * r1]
    ;[s0, s1] = [s1, s0 - q * s1]
  }
  return mod(s0)
}
