import type { ModelRecord, Repos } from '../../stream-check/model-appview.js'

interface OpJson {
  action: string
  path: string
  cid: string | null
  record: unknown
}

/**
 * An AppView worker as they are written today (PublicAppView's, against the legacy consumer's
 * stream): it reads each entry's fields by position, `type = f[1]`, `data = JSON.parse(f[3])`,
 * applies `commit` ops (a delete deletes, a create or update upserts), and ignores every other
 * type. What it holds at the end shows what such a worker gets from a stream: given a repo
 * snapshot, it upserts the record parts (commit entries) and never sees the begin and end.
 */
export class LegacyWorker {
  private readonly repos: Repos = new Map()

  /** One entry's fields, in the order Redis returns them. */
  handle(fields: readonly string[]): void {
    if (fields[1] !== 'commit') return
    const data = JSON.parse(fields[3]!) as { repo: string; ops: OpJson[] }
    let records = this.repos.get(data.repo)
    if (records === undefined) {
      records = new Map<string, ModelRecord>()
      this.repos.set(data.repo, records)
    }
    for (const op of data.ops) {
      if (op.action === 'delete') records.delete(op.path)
      else records.set(op.path, { cid: op.cid!, record: op.record })
    }
  }

  result(): Repos {
    return this.repos
  }
}
