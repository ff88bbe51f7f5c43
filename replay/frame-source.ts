/** The frames a replay plays and the source they come from: apart from the implementations (memory-source.ts, streaming-source.ts) and the loader that picks one (source.ts). */

export interface SourceFrame {
  bytes: Uint8Array
  /** Recorded receive time, µs since the epoch. */
  timeUs: number
  seq: number | undefined
  /** 0 for the first pass over the files, 1 for the first --loop repeat, ... */
  round: number
}

/** What the timeline pulls frames from, synchronously. */
export interface FrameSource {
  /** Called when frames become available after the source ran dry, or when it ends. */
  onReadable: (() => void) | null
  /** Set if a file failed mid-stream despite validation (changed on disk); the source then ends. */
  readonly failure: Error | null
  /** No frame will ever come again. */
  readonly done: boolean
  peek(): SourceFrame | undefined
  take(): SourceFrame | undefined
  close(): void
}
