import { Secp256k1Keypair } from '@atproto/crypto'
import type { SeededRandom } from '../common/random.js'
import { streamFor } from './seeds.js'

/** Who an account is: everything the plan needs, without the (slow to derive) keypair. */
export interface AccountIdentity {
  index: number
  did: string
  /** Handle at the start of the fixture; #identity events may change it later. */
  handle: string
  pds: string
  /** 10-bit TID clock id of the account's PDS process, as in real revs and rkeys. */
  clockId: number
  /** secp256k1 private key bytes, seeded. */
  privateKey: Uint8Array
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
// Real PDS hosts of the Bluesky network are named after mushrooms.
const PDS_HOSTS = ['amanita', 'boletus', 'chanterelle', 'enoki', 'hydnum', 'lionsmane', 'morel', 'oyster', 'porcini', 'puffball', 'shiitake', 'truffle']
const PDS_REGIONS = ['us-east', 'us-west']
const SYLLABLES = ['ka', 'ri', 'mo', 'la', 'ne', 'to', 'sa', 'vi', 'ru', 'chi', 'an', 'el', 'jo', 'mi', 'ko', 'da', 'be', 'lu', 'ya', 'zen', 'fi', 'or', 'sol', 'mar']
const CUSTOM_DOMAINS = ['example.com', 'dev.example.org', 'photos.example.net', 'news.example.co.uk', 'art.example.jp']

/** did:plc identifiers are 24 base32 characters (a truncated hash of the genesis op). */
function plcId(random: SeededRandom): string {
  let out = ''
  for (let i = 0; i < 24; i++) out += BASE32[random.int(0, 31)]
  return out
}

export function randomHandleName(random: SeededRandom): string {
  let name = ''
  const parts = random.int(2, 4)
  for (let i = 0; i < parts; i++) name += random.pick(SYLLABLES)
  if (random.bool(0.4)) name += String(random.int(1, 999))
  return name
}

export function randomHandle(random: SeededRandom): string {
  const name = randomHandleName(random)
  return random.bool(0.9) ? `${name}.bsky.social` : `${name}.${random.pick(CUSTOM_DOMAINS)}`
}

export function createIdentity(seed: number, index: number): AccountIdentity {
  const random = streamFor(seed, 'identity', index)
  const did = `did:plc:${plcId(random)}`
  const handle = randomHandle(random)
  const pds = `https://${random.pick(PDS_HOSTS)}.${random.pick(PDS_REGIONS)}.host.bsky.network`
  const clockId = random.int(0, 1023)
  // 32 random bytes are a valid secp256k1 scalar except with probability ~2^-128.
  const privateKey = random.bytes(32)
  return { index, did, handle, pds, clockId, privateKey }
}

export function importKeypair(identity: AccountIdentity): Promise<Secp256k1Keypair> {
  return Secp256k1Keypair.import(identity.privateKey)
}

/** A DID document as plc.directory serves it (shape of the atproto `#atproto` Multikey method). */
export function didDocument(identity: AccountIdentity, handle: string, keypair: Secp256k1Keypair): Record<string, unknown> {
  const did = identity.did
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1', 'https://w3id.org/security/suites/secp256k1-2019/v1'],
    id: did,
    alsoKnownAs: [`at://${handle}`],
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: keypair.did().slice('did:key:'.length) }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: identity.pds }],
  }
}
