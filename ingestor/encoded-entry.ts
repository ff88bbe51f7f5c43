import { entryFields, type StreamEntry } from '../protocol/stream-entry.js'

/**
 * A stream entry whose `data` JSON is already UTF-8: a view into the buffer a decode worker
 * transferred with its batch. The Redis write sends these bytes as they are, so the main thread
 * neither receives the JSON as a cloned string nor encodes it again.
 */
export class EncodedEntry implements StreamEntry {
  constructor(
    readonly type: StreamEntry['type'],
    readonly seq: number,
    readonly dataBytes: Buffer,
  ) {}

  /** The JSON as text (logs, tests); the write path uses dataBytes. */
  get data(): string {
    return this.dataBytes.toString('utf8')
  }
}

/** Appends an entry's contract fields (type <t> data <json> seq <n>) to a command's arguments. */
export function pushEntryFields(args: (string | Buffer)[], entry: StreamEntry): void {
  if (entry instanceof EncodedEntry) args.push('type', entry.type, 'data', entry.dataBytes, 'seq', String(entry.seq))
  else args.push(...entryFields(entry))
}
