/** The fields of the ingestor's GET /health JSON (ingestor/status.ts) the load test samples. */
export interface HealthReading {
  queueFrames: number
  reconnects: number
  eventsWritten: number
}

/** One GET /health; null when it does not answer in time (503 still carries the status JSON). */
export async function readHealth(port: number, timeoutMs = 800): Promise<HealthReading | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    const body = (await response.json()) as { queue?: { frames?: number }; relay?: { reconnects?: number }; counters?: { eventsWritten?: number } }
    return { queueFrames: body.queue?.frames ?? 0, reconnects: body.relay?.reconnects ?? 0, eventsWritten: body.counters?.eventsWritten ?? 0 }
  } catch {
    return null
  }
}
