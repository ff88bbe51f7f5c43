/** One relay of `--relay a --relay b`: where to connect and which cursor key holds its seqs. */
export interface RelayEndpoint {
  url: string
  /** host[:port]: names the relay in logs, status and metrics, and its cursor key. */
  label: string
  cursorKey: string
}

export function relayLabel(url: string): string {
  return new URL(url).host
}

/** The label given twice in `urls`, or null: two entries for one relay would share a cursor key. */
export function duplicateRelay(urls: readonly string[]): string | null {
  const seen = new Set<string>()
  for (const url of urls) {
    const label = relayLabel(url)
    if (seen.has(label)) return label
    seen.add(label)
  }
  return null
}

/**
 * Seq is relay-scoped, so each relay has its own cursor key. The first (primary) relay keeps
 * `cursorKey` itself, so adding a fallback to a running deployment keeps its cursor; every other
 * relay uses `<cursorKey>:<host[:port]>`.
 */
export function relayEndpoints(urls: readonly string[], cursorKey: string): RelayEndpoint[] {
  return urls.map((url, index) => {
    const label = relayLabel(url)
    return { url, label, cursorKey: index === 0 ? cursorKey : `${cursorKey}:${label}` }
  })
}
