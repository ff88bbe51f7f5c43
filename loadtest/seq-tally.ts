/** Seqs kept per kind of problem for the report (counts are exact, the lists are samples). */
const SAMPLE_SEQS = 20

export interface TallyResult {
  /** Expected seqs up to the last published one. */
  expected: number
  delivered: number
  lost: number
  duplicated: number
  /** Entries whose seq the replay never published (or without a seq). */
  unexpected: number
  samples: { lost: number[]; duplicated: number[]; unexpected: number[] }
}

/**
 * Counts lost and duplicated events of a looped replay without keeping the stream: one bit per
 * seq from the first to the last published (1.2 M events = 150 KB). The replay repeats the
 * fixture with every seq shifted by `span` per round, so a seq is expected exactly when its
 * position within the round is one of the fixture's seqs.
 */
export class SeqTally {
  private bits = new Uint8Array(1024)
  private readonly passSeqs: Set<number>
  private readonly firstSeq: number
  private duplicated = 0
  private unexpected = 0
  private readonly samples = { lost: [] as number[], duplicated: [] as number[], unexpected: [] as number[] }

  /** `pass`: the seqs one pass of the fixture writes, increasing (undecodable frames left out). */
  constructor(
    private readonly pass: readonly number[],
    private readonly span: number,
  ) {
    if (pass.length === 0) throw new RangeError('the fixture yields no stream entries')
    this.passSeqs = new Set(pass)
    this.firstSeq = pass[0]!
  }

  isExpected(seq: number): boolean {
    if (!Number.isSafeInteger(seq) || seq < this.firstSeq) return false
    return this.passSeqs.has(this.firstSeq + ((seq - this.firstSeq) % this.span))
  }

  /** The highest expected seq at or below `seq` (null: none). */
  lastExpectedAtOrBelow(seq: number): number | null {
    if (seq < this.firstSeq) return null
    const shift = Math.floor((seq - this.firstSeq) / this.span) * this.span
    let low = 0
    let high = this.pass.length - 1
    if (this.pass[0]! + shift > seq) return shift === 0 ? null : this.pass[high]! + shift - this.span
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (this.pass[mid]! + shift <= seq) low = mid
      else high = mid - 1
    }
    return this.pass[low]! + shift
  }

  /** One stream entry; `headSeq` is the highest seq published so far (bounds the bitmap). */
  record(seq: number, headSeq: number | null): void {
    if (!this.isExpected(seq) || headSeq === null || seq > headSeq) {
      this.unexpected++
      sample(this.samples.unexpected, seq)
      return
    }
    const offset = seq - this.firstSeq
    this.grow(offset)
    const byte = offset >> 3
    const bit = 1 << (offset & 7)
    if ((this.bits[byte]! & bit) !== 0) {
      this.duplicated++
      sample(this.samples.duplicated, seq)
    } else this.bits[byte]! |= bit
  }

  /** The verdict for every expected seq up to `lastSeq` (the last one published). */
  result(lastSeq: number | null): TallyResult {
    let expected = 0
    let lost = 0
    const lostSamples: number[] = []
    if (lastSeq !== null) {
      for (let round = 0; ; round++) {
        const shift = round * this.span
        if (this.firstSeq + shift > lastSeq) break
        for (const passSeq of this.pass) {
          const seq = passSeq + shift
          if (seq > lastSeq) break
          expected++
          const offset = seq - this.firstSeq
          if (((this.bits[offset >> 3] ?? 0) & (1 << (offset & 7))) === 0) {
            lost++
            sample(lostSamples, seq)
          }
        }
      }
    }
    return {
      expected,
      delivered: expected - lost,
      lost,
      duplicated: this.duplicated,
      unexpected: this.unexpected,
      samples: { lost: lostSamples, duplicated: [...this.samples.duplicated], unexpected: [...this.samples.unexpected] },
    }
  }

  private grow(offset: number): void {
    if (offset >> 3 < this.bits.length) return
    let length = this.bits.length
    while (offset >> 3 >= length) length *= 2
    const bigger = new Uint8Array(length)
    bigger.set(this.bits)
    this.bits = bigger
  }
}

function sample(list: number[], seq: number): void {
  if (list.length < SAMPLE_SEQS) list.push(seq)
}
