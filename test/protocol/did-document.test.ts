import { describe, expect, it } from 'vitest'
import { didDocumentUrl, keyFromDocument, parseDidDocument, pdsEndpointOf, type DidDocument } from '../../protocol/did-document.js'

const PLC = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'

describe('didDocumentUrl: where the atproto DID spec says a document is served (did:plc at the PLC directory, did:web at its host, nothing else)', () => {
  it('did:plc under the PLC URL; did:web at https://host/.well-known/did.json with %3A as the port', () => {
    expect(didDocumentUrl(PLC, 'https://plc.directory')).toBe(`https://plc.directory/${PLC}`)
    expect(didDocumentUrl('did:web:example.com', 'https://plc.directory')).toBe('https://example.com/.well-known/did.json')
    expect(didDocumentUrl('did:web:localhost%3A8443', 'https://plc.directory')).toBe('https://localhost:8443/.well-known/did.json')
  })

  it('refuses malformed did:plc, did:web with a path, and other methods', () => {
    expect(didDocumentUrl('did:plc:UPPERCASE234567abcdefghij', 'x')).toMatchObject({ kind: 'unresolved', reason: 'malformed did:plc' })
    expect(didDocumentUrl('did:web:example.com:user:alice', 'x')).toMatchObject({ kind: 'unresolved', reason: expect.stringContaining('no path') })
    expect(didDocumentUrl('did:key:z6MkhaXgBZD', 'x')).toMatchObject({ kind: 'unresolved', reason: 'unsupported DID method' })
  })
})

describe('pdsEndpointOf: the #atproto_pds service of type AtprotoPersonalDataServer, an http(s) URL without credentials, query or fragment', () => {
  const doc = (service: unknown): DidDocument => ({ id: PLC, service })
  it('takes `#atproto_pds` or `<did>#atproto_pds`, and skips other services', () => {
    const pds = { type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://morel.us-east.host.bsky.network' }
    expect(
      pdsEndpointOf(
        doc([
          { id: '#bsky_fg', type: 'BskyFeedGenerator', serviceEndpoint: 'https://x' },
          { id: '#atproto_pds', ...pds },
        ]),
      ),
    ).toMatchObject({ kind: 'pds', url: new URL(pds.serviceEndpoint) })
    expect(pdsEndpointOf(doc([{ id: `${PLC}#atproto_pds`, ...pds }]))).toMatchObject({ kind: 'pds' })
  })

  it('refuses what is missing or unusable', () => {
    const cases: [unknown, string][] = [
      [undefined, 'no #atproto_pds'],
      [[{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 42 }], 'not a string'],
      [[{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'not a url' }], 'not a URL'],
      [[{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'javascript:alert(1)' }], 'scheme javascript:'],
      [[{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example/?x=1' }], 'a query'],
    ]
    for (const [service, reason] of cases) expect(pdsEndpointOf(doc(service)), reason).toMatchObject({ kind: 'unresolved', reason: expect.stringContaining(reason) })
  })
})

describe("parseDidDocument and keyFromDocument: a document is JSON and names the DID asked for (the verifier's rules, shared)", () => {
  it('refuses text that is not JSON and a document of another DID; a document without #atproto has no key', () => {
    expect(parseDidDocument(PLC, '{')).toEqual({ kind: 'unresolved', reason: 'DID document is not JSON' })
    expect(parseDidDocument(PLC, JSON.stringify({ id: 'did:plc:other' }))).toEqual({ kind: 'unresolved', reason: 'DID document is for another DID' })
    expect(parseDidDocument(PLC, JSON.stringify({ id: PLC, kind: 'unresolved' }))).toMatchObject({ kind: 'document', doc: { id: PLC } })
    expect(keyFromDocument(PLC, JSON.stringify({ id: PLC }))).toEqual({ kind: 'unresolved', reason: 'DID document has no #atproto verification method' })
  })
})
