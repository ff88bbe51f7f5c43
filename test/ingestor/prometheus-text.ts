/** One sample of the Prometheus text format (what a scraper sees). */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g

/** Parses exposition text strictly: every line is a comment or a sample of a metric with a TYPE line. */
export function parsePrometheus(text: string): Sample[] {
  const typed = new Set<string>()
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (type) typed.add(type[1]!)
    if (line.startsWith('#')) continue
    const match = SAMPLE_LINE.exec(line)
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`)
    const [, name, labelText = '', valueText] = match
    const family = name!.replace(/_(bucket|sum|count)$/, '')
    if (!typed.has(name!) && !typed.has(family)) throw new Error(`sample without a TYPE line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of labelText.matchAll(LABEL)) labels[key!] = value!
    samples.push({ name: name!, labels, value: parseValue(valueText!, line) })
  }
  return samples
}

/** Go's ParseFloat, as Prometheus reads values: NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(text: string, line: string): number {
  if (/^nan$/i.test(text)) return Number.NaN
  const inf = /^([+-]?)inf$/i.exec(text)
  if (inf) return inf[1] === '-' ? -Infinity : Infinity
  const value = Number(text)
  if (Number.isNaN(value)) throw new Error(`bad sample value: ${line}`)
  return value
}

/** The value of the one sample named `name` carrying `labels` (undefined if none; throws if several). */
export function sample(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
  if (found.length > 1) throw new Error(`${found.length} samples match ${name} ${JSON.stringify(labels)}`)
  return found[0]?.value
}
