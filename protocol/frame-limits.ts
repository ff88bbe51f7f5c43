/**
 * The default bounds of frame decoding, apart from the decoder: the CLI and the replay server's
 * fault plans name them without loading the CBOR codec.
 */

/** Frames larger than this are rejected before any parsing: relays cap inbound frames at 5,000,000 bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 5_000_000
/** Deepest array/map nesting accepted, in the frame and in each record block. */
export const DEFAULT_MAX_DEPTH = 64
