import type { SequencedEvent } from '../protocol/events.js'
import type { RelayEntryType } from '../protocol/stream-entry.js'
import { IngestorError, IngestorErrorCode } from './errors.js'

/** The relay event types the filter can keep (a repo snapshot's entries are not filtered by type). */
export type EventType = RelayEntryType
export const EVENT_TYPES: readonly EventType[] = ['commit', 'identity', 'account', 'sync']

/**
 * What to publish, as plain data so it crosses to the decode workers in workerData.
 * `collections`: exact NSIDs or `prefix.*` wildcards, applied to commit ops; null keeps every op.
 * `types`: event types published; null keeps every type.
 */
export interface EventFilterSpec {
  collections: string[] | null
  types: EventType[] | null
}

// atproto NSID syntax (lexicon spec): reversed-domain authority segments, then a name segment.
const DOMAIN_SEGMENT = '[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?'
const FIRST_SEGMENT = '[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?'
const NSID = new RegExp(`^${FIRST_SEGMENT}(?:\\.${DOMAIN_SEGMENT})+\\.[a-zA-Z][a-zA-Z0-9]{0,62}$`)
const NSID_PREFIX = new RegExp(`^${FIRST_SEGMENT}(?:\\.${DOMAIN_SEGMENT})*$`)
const NSID_MAX_LENGTH = 317

/** Why `pattern` is not an NSID or `prefix.*` wildcard; null when it is one. */
export function collectionPatternError(pattern: string): string | null {
  if (pattern.length > NSID_MAX_LENGTH) return `collection pattern is longer than ${NSID_MAX_LENGTH} characters`
  if (pattern.endsWith('.*')) {
    return NSID_PREFIX.test(pattern.slice(0, -2)) ? null : `"${pattern}" is not a valid NSID prefix wildcard (e.g. app.bsky.graph.*)`
  }
  return NSID.test(pattern) ? null : `"${pattern}" is not a valid collection NSID (e.g. app.bsky.feed.post) or prefix wildcard (e.g. app.bsky.graph.*)`
}

/** Why `type` is not an event type; null when it is one. */
export function eventTypeError(type: string): string | null {
  return (EVENT_TYPES as readonly string[]).includes(type) ? null : `"${type}" is not an event type (expected ${EVENT_TYPES.join(', ')})`
}

/** Validates library options; null when nothing is filtered. Throws IngestorError (INGESTOR_INVALID_OPTION). */
export function eventFilterSpec(collections: readonly string[] | undefined, types: readonly string[] | undefined): EventFilterSpec | null {
  if (collections === undefined && types === undefined) return null
  const check = (option: string, values: readonly string[] | undefined, error: (value: string) => string | null): void => {
    if (values === undefined) return
    // An empty list would publish nothing at all: certainly a mistake; omit the option to keep everything.
    const empty = 'must list at least one value (omit it to keep all)'
    if (values.length === 0) throw new IngestorError(IngestorErrorCode.InvalidOption, `${option} ${empty}`, { option, value: values, reason: empty })
    for (const value of values) {
      const reason = error(value)
      if (reason !== null) throw new IngestorError(IngestorErrorCode.InvalidOption, `${option}: ${reason}`, { option, value, reason })
    }
  }
  check('collections', collections, collectionPatternError)
  check('types', types, eventTypeError)
  return { collections: collections === undefined ? null : [...new Set(collections)], types: types === undefined ? null : ([...new Set(types)] as EventType[]) }
}

/** The outcome for one event: the event to publish (commit ops possibly removed) or null, and how many ops were removed. */
export interface FilterOutcome {
  event: SequencedEvent | null
  removedOps: number
}

/** A compiled EventFilterSpec. Pure: the same event always gives the same outcome. */
export class EventFilter {
  private readonly types: ReadonlySet<string> | null
  private readonly exact: ReadonlySet<string>
  /** Wildcard prefixes with their trailing dot (`app.bsky.graph.`). */
  private readonly prefixes: readonly string[]
  private readonly allCollections: boolean

  constructor(spec: EventFilterSpec) {
    this.types = spec.types === null ? null : new Set(spec.types)
    this.allCollections = spec.collections === null
    const patterns = spec.collections ?? []
    this.exact = new Set(patterns.filter((p) => !p.endsWith('.*')))
    this.prefixes = patterns.filter((p) => p.endsWith('.*')).map((p) => p.slice(0, -1))
  }

  keepsType(type: string): boolean {
    return this.types === null || this.types.has(type)
  }

  /** Whether an op on repo path `collection/rkey` is kept. */
  keepsPath(path: string): boolean {
    if (this.allCollections) return true
    const slash = path.indexOf('/')
    const collection = slash < 0 ? path : path.slice(0, slash)
    return this.exact.has(collection) || this.prefixes.some((prefix) => collection.startsWith(prefix))
  }

  /** A commit keeps its matching ops (every other field as it was); one left with no ops is not published. */
  apply(event: SequencedEvent): FilterOutcome {
    if (!this.keepsType(event.type)) return { event: null, removedOps: 0 }
    if (event.type !== 'commit' || this.allCollections) return { event, removedOps: 0 }
    const ops = event.ops.filter((op) => this.keepsPath(op.path))
    const removedOps = event.ops.length - ops.length
    if (ops.length === 0) return { event: null, removedOps }
    return { event: removedOps === 0 ? event : { ...event, ops }, removedOps }
  }
}
