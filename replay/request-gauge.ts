/** Requests being answered now and the most at once: how hard clients press on one PDS (a resync storm against the limits of their fetchers). */
export class RequestGauge {
  inFlight = 0
  maxInFlight = 0
  requests = 0

  /** A request begins; call the returned function once when its answer ends (sent, or the connection gone). */
  begin(): () => void {
    this.requests++
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight)
    let ended = false
    return () => {
      if (ended) return
      ended = true
      this.inFlight--
    }
  }

  status(): { inFlight: number; maxInFlight: number; requests: number } {
    return { inFlight: this.inFlight, maxInFlight: this.maxInFlight, requests: this.requests }
  }
}
