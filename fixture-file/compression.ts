import zlib from 'node:zlib'
import type { Transform } from 'node:stream'
import { FixtureError, FixtureErrorCode } from '../protocol/fixture/errors.js'

export type Compression = 'gzip' | 'zstd' | 'none'

/** Chosen by extension: `.gz` gzip, `.zst` zstd, anything else stored as is. */
export function compressionFor(path: string): Compression {
  if (path.endsWith('.gz')) return 'gzip'
  if (path.endsWith('.zst')) return 'zstd'
  return 'none'
}

// zstd arrived in node:zlib in Node 22.15 / 23.8; @types/node 20 does not know it.
interface ZstdZlib {
  createZstdCompress(options?: object): Transform
  createZstdDecompress(options?: object): Transform
}
const zstd: ZstdZlib | null = typeof (zlib as Partial<ZstdZlib>).createZstdCompress === 'function' ? (zlib as unknown as ZstdZlib) : null
const ZSTD_E_FLUSH = (zlib.constants as Record<string, number>).ZSTD_e_flush

export const zstdAvailable = zstd !== null

function requireZstd(path: string): ZstdZlib {
  if (zstd === null) {
    throw new FixtureError(FixtureErrorCode.Unsupported, `${path}: zstd needs Node >= 22.15 (this is ${process.version}); use .gz`, {
      path,
      nodeVersion: process.version,
    })
  }
  return zstd
}

export interface Compressor {
  stream: Transform & Pick<zlib.Zlib, 'flush'>
  /** Makes everything written so far decodable from the output (gzip Z_SYNC_FLUSH, zstd ZSTD_e_flush). */
  flushKind: number
}

/** Larger than zlib's 16 KiB default: fewer chunks (and async hops) per MB on the hot read path. */
const CHUNK_BYTES = 64 * 1024
const ZSTD_C_COMPRESSION_LEVEL = (zlib.constants as Record<string, number>).ZSTD_c_compressionLevel

export function createCompressor(compression: Compression, path: string, level?: number): Compressor | null {
  switch (compression) {
    case 'gzip':
      return { stream: zlib.createGzip({ chunkSize: CHUNK_BYTES, ...(level === undefined ? {} : { level }) }), flushKind: zlib.constants.Z_SYNC_FLUSH }
    case 'zstd': {
      const params = level === undefined || ZSTD_C_COMPRESSION_LEVEL === undefined ? {} : { params: { [ZSTD_C_COMPRESSION_LEVEL]: level } }
      return { stream: requireZstd(path).createZstdCompress(params) as Compressor['stream'], flushKind: ZSTD_E_FLUSH! }
    }
    case 'none':
      return null
  }
}

/**
 * The decompressor ends the last input chunk with a sync flush instead of a finishing one, so
 * a file cut off mid-write yields every byte that can be decoded and then a clean end, instead
 * of zlib's "unexpected end of file". Whether the content itself is complete is the record
 * layer's call (a complete fixture ends with its manifest record).
 */
export function createDecompressor(compression: Compression, path: string): Transform | null {
  switch (compression) {
    case 'gzip':
      return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: CHUNK_BYTES })
    case 'zstd':
      return requireZstd(path).createZstdDecompress({ finishFlush: ZSTD_E_FLUSH, chunkSize: CHUNK_BYTES })
    case 'none':
      return null
  }
}
