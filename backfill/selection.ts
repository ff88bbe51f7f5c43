import { createHash } from 'node:crypto'

/** Which repos a backfill asks for (docs/backfill.md, "Choosing repos"). */
export type BackfillSelection =
  /** Every repo the server lists (com.atproto.sync.listRepos). */
  | { kind: 'all' }
  /** Repos with records in any of these collections (com.atproto.sync.listReposByCollection, one listing per collection). */
  | { kind: 'collections'; collections: readonly string[] }
  /** These DIDs (--dids FILE, or a list). */
  | { kind: 'dids'; dids: readonly string[] }

/** One repo as a listing gives it. */
export interface ListedRepo {
  did: string
  /** listRepos says so; listReposByCollection and DID lists only name active ones (or do not know). */
  active: boolean
  status: string | null
}

/** Where a listing stands: which part (the collection's index; 0 otherwise) and the cursor within it (null: its start). */
export interface ListingPosition {
  part: number
  cursor: string | null
}

export interface ListedPage {
  repos: ListedRepo[]
  /** Where the next page starts; null after the last. */
  next: ListingPosition | null
}

/** The selection in words and as stored beside the listing (a run resumes only the same selection). */
export function describeSelection(selection: BackfillSelection): string {
  switch (selection.kind) {
    case 'all':
      return 'all'
    case 'collections':
      return `collections ${selection.collections.join(',')}`
    case 'dids':
      return `dids (${selection.dids.length})`
  }
}

/** What a selection is, to compare with the one stored with a listing (a DID list by its digest). */
export function selectionId(selection: BackfillSelection): string {
  switch (selection.kind) {
    case 'all':
      return 'all'
    case 'collections':
      return `collections:${selection.collections.join(',')}`
    case 'dids':
      return `dids:${createHash('sha256').update(selection.dids.join('\n')).digest('hex').slice(0, 16)}`
  }
}
