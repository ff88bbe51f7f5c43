import type { GuardedClient } from '../repo-sync/guarded-client.js'
import { readCapped } from '../repo-sync/http-get.js'
import { BackfillError, BackfillErrorCode } from './errors.js'
import type { BackfillSelection, ListedPage, ListedRepo, ListingPosition } from './selection.js'

export interface RepoListerOptions {
  /** Repos per page asked (listRepos allows up to 1,000, listReposByCollection 2,000). */
  pageSize?: number
  /** Deadline of one page's request (default 60 s). */
  timeoutMs?: number
}

const DEFAULT_PAGE_SIZE = 1_000
/** A page of 2,000 repos is ~300 KB of JSON; anything near this is not a listing. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024
const DID = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/

/**
 * Lists a selection's repos a page at a time: `com.atproto.sync.listRepos` or
 * `listReposByCollection` (one collection after the other) on `listFrom`, a relay or a PDS (docs/backfill.md
 * "Choosing repos"), or a DID list. Requests go through the repo-sync client (its limiter: a 429
 * pauses the host until its `RateLimit-Reset`); `listFrom` is configuration, so its address is not
 * checked. Every answer is checked against the lexicon: a server that answers garbage gets a
 * BackfillError, never a crash.
 */
export class RepoLister {
  private readonly pageSize: number
  private readonly timeoutMs: number

  constructor(
    private readonly client: Pick<GuardedClient, 'get'>,
    private readonly selection: BackfillSelection,
    private readonly listFrom: URL | null,
    options: RepoListerOptions = {},
  ) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE
    this.timeoutMs = options.timeoutMs ?? 60_000
    if (selection.kind !== 'dids' && listFrom === null) throw new RangeError(`listing ${selection.kind} needs a server to list from`)
  }

  async page(at: ListingPosition, signal?: AbortSignal): Promise<ListedPage> {
    const { selection } = this
    if (selection.kind === 'dids') {
      const from = at.cursor === null ? 0 : Number(at.cursor)
      const end = Math.min(selection.dids.length, from + this.pageSize)
      const repos = selection.dids.slice(from, end).map((did) => ({ did, active: true, status: null }))
      return { repos, next: end < selection.dids.length ? { part: 0, cursor: String(end) } : null }
    }
    const collection = selection.kind === 'collections' ? selection.collections[at.part]! : null
    const url = new URL(`xrpc/com.atproto.sync.${collection === null ? 'listRepos' : 'listReposByCollection'}`, withSlash(this.listFrom!))
    if (collection !== null) url.searchParams.set('collection', collection)
    url.searchParams.set('limit', String(Math.min(this.pageSize, collection === null ? 1_000 : 2_000)))
    if (at.cursor !== null) url.searchParams.set('cursor', at.cursor)
    const body = await this.getJson(url, signal)
    const { repos, cursor } = parsePage(body, url, collection === null)
    // A cursor that does not move would list the same page for ever.
    if (cursor !== null && cursor === at.cursor) throw new BackfillError(BackfillErrorCode.ListBadAnswer, `${url.host} answered the cursor it was asked with (${cursor}): the listing does not move`, { url: url.href })
    const last = selection.kind !== 'collections' || at.part + 1 >= selection.collections.length
    const next = cursor !== null && repos.length > 0 ? { part: at.part, cursor } : last ? null : { part: at.part + 1, cursor: null }
    return { repos, next }
  }

  private async getJson(url: URL, signal: AbortSignal | undefined): Promise<unknown> {
    const answer = await this.client.get(url, { accept: 'application/json', trusted: true, timeoutMs: this.timeoutMs, signal })
    let body: Buffer | null
    try {
      body = await readCapped(answer, MAX_PAGE_BYTES)
    } finally {
      answer.close()
    }
    if (body === null) throw new BackfillError(BackfillErrorCode.ListBadAnswer, `${url.host} answered over ${MAX_PAGE_BYTES} bytes for one page`, { url: url.href })
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch {
      parsed = undefined
    }
    if (answer.status !== 200) {
      const error = typeof (parsed as { error?: unknown })?.error === 'string' ? ` (${(parsed as { error: string }).error})` : ''
      throw new BackfillError(BackfillErrorCode.ListStatus, `${url.host} answered ${answer.status}${error} to ${url.pathname}`, { url: url.href, status: answer.status })
    }
    if (parsed === undefined) throw new BackfillError(BackfillErrorCode.ListBadAnswer, `${url.host} answered ${url.pathname} with a body that is not JSON`, { url: url.href })
    return parsed
  }
}

/** A listing answer checked: `repos` of `{did}` (listRepos adds `active` and `status`), an optional string `cursor`. */
function parsePage(body: unknown, url: URL, withStatus: boolean): { repos: ListedRepo[]; cursor: string | null } {
  const bad = (what: string): BackfillError => new BackfillError(BackfillErrorCode.ListBadAnswer, `${url.host} answered ${url.pathname} with ${what}`, { url: url.href })
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { repos?: unknown }).repos)) throw bad('no repos array')
  const { repos, cursor } = body as { repos: unknown[]; cursor?: unknown }
  if (cursor !== undefined && cursor !== null && typeof cursor !== 'string') throw bad(`a cursor of type ${typeof cursor}`)
  const listed = repos.map((repo, i): ListedRepo => {
    const did = (repo as { did?: unknown } | null)?.did
    if (typeof did !== 'string' || !DID.test(did)) throw bad(`repos[${i}] without a valid DID`)
    const { active, status } = repo as { active?: unknown; status?: unknown }
    // listRepos' `active` is optional in the lexicon (older PDSes leave it out): absent means active.
    return { did, active: !withStatus || active !== false, status: withStatus && typeof status === 'string' ? status : null }
  })
  return { repos: listed, cursor: typeof cursor === 'string' && cursor !== '' ? cursor : null }
}

function withSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.href}/`)
}

/** A DIDs file: one DID a line; blank lines and `#` comments skipped; duplicates kept once. Throws BAD_DID_LIST naming the first bad line. */
export function parseDidList(text: string, file: string): string[] {
  const seen = new Set<string>()
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    if (!DID.test(line)) throw new BackfillError(BackfillErrorCode.BadDidList, `${file}:${i + 1}: not a DID: ${JSON.stringify(line.slice(0, 80))}`, { line: i + 1 })
    seen.add(line)
  })
  return [...seen]
}
