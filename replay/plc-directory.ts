import { readFile, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { FixtureManifest } from '../fixture-file/index.js'
import { ReplayError, ReplayErrorCode } from './errors.js'

/** DID document sidecars read at start, in total at most (generated ones are ~1.1 KB per account: 50,000 accounts ~ 55 MB). */
export const DID_DOCS_MAX_BYTES = 128 * 1024 * 1024
/** The service a DID document names its PDS with. */
const PDS_SERVICE = '#atproto_pds'

/**
 * A PLC directory for the DIDs of the fixtures: `GET /plc/<did>` answers the DID document from
 * the fixture's sidecar (the generator writes `FILE.did-docs.json` and names it in the manifest
 * meta `didDocs`), with its `#atproto_pds` service pointing at this replay, so a client that
 * resolves the DID (ingestor/verify/did-resolver.ts with plcUrl `<replay>/plc`) finds the key
 * the fixture's commits are signed with and fetches getRepo from the replay. Fixtures without a
 * sidecar (recordings) have no documents: every DID is 404, as plc.directory answers an unknown one.
 */
export class PlcDirectory {
  private constructor(private readonly documents: ReadonlyMap<string, Record<string, unknown>>) {}

  get size(): number {
    return this.documents.size
  }

  /** Reads the sidecar of each fixture that has one; a later file's document for a DID wins. */
  static async load(files: readonly string[], manifests: readonly FixtureManifest[]): Promise<PlcDirectory> {
    const documents = new Map<string, Record<string, unknown>>()
    let total = 0
    for (const [i, file] of files.entries()) {
      const path = await sidecarOf(file, manifests[i])
      if (path === null) continue
      const text = await readFile(path, 'utf8')
      total += Buffer.byteLength(text)
      if (total > DID_DOCS_MAX_BYTES) throw badSidecar(path, `DID documents over ${DID_DOCS_MAX_BYTES} bytes in total`)
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        throw badSidecar(path, `not JSON: ${(err as Error).message}`, err)
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badSidecar(path, 'expected an object of DID -> DID document')
      for (const [did, doc] of Object.entries(parsed)) {
        if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || (doc as { id?: unknown }).id !== did) throw badSidecar(path, `the entry for ${did} is not its DID document`)
        documents.set(did, doc as Record<string, unknown>)
      }
    }
    return new PlcDirectory(documents)
  }

  /** The DID's document with its PDS endpoint set to `pdsUrl`; undefined for a DID no fixture documents. */
  document(did: string, pdsUrl: string): Record<string, unknown> | undefined {
    const doc = this.documents.get(did)
    if (doc === undefined) return undefined
    const pds = { id: PDS_SERVICE, type: 'AtprotoPersonalDataServer', serviceEndpoint: pdsUrl }
    const services = Array.isArray(doc.service) ? (doc.service as unknown[]) : []
    const others = services.filter((service) => !isPdsService(did, service))
    return { ...doc, service: [...others, pds] }
  }
}

function isPdsService(did: string, service: unknown): boolean {
  const id = typeof service === 'object' && service !== null ? (service as { id?: unknown }).id : undefined
  return id === PDS_SERVICE || id === `${did}${PDS_SERVICE}`
}

/** The sidecar the manifest names (beside the fixture), else `FILE.did-docs.json` when it exists; null when there is none. */
async function sidecarOf(file: string, manifest: FixtureManifest | undefined): Promise<string | null> {
  const named = manifest?.meta?.didDocs
  const candidates = typeof named === 'string' ? [join(dirname(file), basename(named)), `${file}.did-docs.json`] : [`${file}.did-docs.json`]
  for (const path of candidates) {
    const found = await stat(path).then(
      (info) => info.isFile(),
      () => false,
    )
    if (found) return path
  }
  return null
}

function badSidecar(path: string, reason: string, cause?: unknown): ReplayError {
  return new ReplayError(ReplayErrorCode.BadFixture, `DID documents ${path}: ${reason}`, { path }, cause === undefined ? undefined : { cause })
}
