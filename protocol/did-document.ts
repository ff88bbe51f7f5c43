import { parseSigningKey, type SigningKey } from './signing-key.js'

/** Why a DID has no usable document, key or PDS (404, tombstone, malformed, no #atproto key...). */
export interface Unresolved {
  kind: 'unresolved'
  reason: string
}

/** A DID's current atproto signing key, or why it has none. */
export type DidResolution = { kind: 'key'; key: SigningKey } | Unresolved

/** A DID document as JSON, its `id` checked to be the DID asked for; only the fields atproto reads are typed. */
export interface DidDocument {
  id: string
  verificationMethod?: unknown
  service?: unknown
}

const PLC_DID = /^did:plc:[a-z2-7]{24}$/
/** atproto allows host-level did:web only (a port as %3A), no path. */
const WEB_DID = /^did:web:([a-zA-Z0-9.-]+(?:%3[aA]\d{1,5})?)$/

/**
 * Where the DID's document is served: did:plc:X at `<plcUrl>/did:plc:X`, did:web:host at
 * https://host/.well-known/did.json (atproto DID spec); a malformed or unsupported DID is
 * unresolved. `plcUrl` without a trailing slash.
 */
export function didDocumentUrl(did: string, plcUrl: string): string | Unresolved {
  if (did.startsWith('did:plc:')) return PLC_DID.test(did) ? `${plcUrl}/${did}` : { kind: 'unresolved', reason: 'malformed did:plc' }
  if (did.startsWith('did:web:')) {
    const host = WEB_DID.exec(did)?.[1]
    return host === undefined ? { kind: 'unresolved', reason: 'malformed did:web (atproto allows a host, no path)' } : `https://${host.replace(/%3a/i, ':')}/.well-known/did.json`
  }
  return { kind: 'unresolved', reason: 'unsupported DID method' }
}

/** The document (JSON text) of `did`: unresolved when it is not JSON or is another DID's. */
export function parseDidDocument(did: string, text: string): { kind: 'document'; doc: DidDocument } | Unresolved {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return { kind: 'unresolved', reason: 'DID document is not JSON' }
  }
  if (typeof doc !== 'object' || doc === null || (doc as { id?: unknown }).id !== did) return { kind: 'unresolved', reason: 'DID document is for another DID' }
  return { kind: 'document', doc: doc as DidDocument }
}

/** The #atproto Multikey of a DID document (JSON text), checked to be the document of `did`. */
export function keyFromDocument(did: string, text: string): DidResolution {
  const parsed = parseDidDocument(did, text)
  return parsed.kind === 'document' ? signingKeyOf(parsed.doc) : parsed
}

/** The document's #atproto verification method as a signing key (Multikey only). */
export function signingKeyOf(doc: DidDocument): DidResolution {
  const method = findById(doc.verificationMethod, doc.id, 'atproto')
  if (method === undefined) return { kind: 'unresolved', reason: 'DID document has no #atproto verification method' }
  if (method.type !== 'Multikey' || typeof method.publicKeyMultibase !== 'string') return { kind: 'unresolved', reason: `#atproto key of type ${String(method.type)} is not supported (Multikey only)` }
  try {
    return { kind: 'key', key: parseSigningKey(method.publicKeyMultibase) }
  } catch (err) {
    return { kind: 'unresolved', reason: `#atproto key unusable: ${(err as Error).message}` }
  }
}

/**
 * The account's PDS: the `serviceEndpoint` of the service `#atproto_pds` of type
 * AtprotoPersonalDataServer (atproto DID spec), an http(s) URL without credentials, query or
 * fragment. Only the URL's form is checked here: whether its host may be contacted is the
 * caller's (repo-sync/host-guard.ts).
 */
export function pdsEndpointOf(doc: DidDocument): { kind: 'pds'; url: URL } | Unresolved {
  const service = findById(doc.service, doc.id, 'atproto_pds')
  if (service === undefined) return { kind: 'unresolved', reason: 'DID document has no #atproto_pds service' }
  if (service.type !== 'AtprotoPersonalDataServer') return { kind: 'unresolved', reason: `#atproto_pds service of type ${String(service.type)} (expected AtprotoPersonalDataServer)` }
  if (typeof service.serviceEndpoint !== 'string') return { kind: 'unresolved', reason: '#atproto_pds serviceEndpoint is not a string' }
  let url: URL
  try {
    url = new URL(service.serviceEndpoint)
  } catch {
    return { kind: 'unresolved', reason: `#atproto_pds serviceEndpoint ${JSON.stringify(service.serviceEndpoint.slice(0, 200))} is not a URL` }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { kind: 'unresolved', reason: `#atproto_pds serviceEndpoint has scheme ${url.protocol} (http or https only)` }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return { kind: 'unresolved', reason: '#atproto_pds serviceEndpoint carries credentials, a query or a fragment' }
  return { kind: 'pds', url }
}

/** The entry of a DID document list (verificationMethod, service) with id `#name` or `<did>#name`. */
function findById(list: unknown, did: string, name: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined
  return (list as unknown[]).find(
    (entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null && ((entry as { id?: unknown }).id === `#${name}` || (entry as { id?: unknown }).id === `${did}#${name}`),
  )
}
