import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { compressionFor, createDecompressor } from './compression.js'
import { FixtureError, FixtureErrorCode, corruptAt, ioError } from '../protocol/fixture/errors.js'

const READ_CHUNK_BYTES = 256 * 1024

/**
 * A file's content as chunks, decompressed by extension, one chunk in memory at a time.
 * File-system errors become FIXTURE_NOT_FOUND / FIXTURE_IO; decompression errors FIXTURE_CORRUPT
 * with the decompressed offset reached. Ending the iteration early closes the file.
 */
export async function* readContent(path: string): AsyncGenerator<Buffer> {
  const decompressor = createDecompressor(compressionFor(path), path)
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new FixtureError(FixtureErrorCode.Io, `${path}: not a regular file`, { path })
  } catch (err) {
    decompressor?.destroy()
    throw err instanceof FixtureError ? err : ioError(path, 'stat', err)
  }
  const file = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })
  const content: Readable = decompressor ? file.pipe(decompressor) : file
  let fileFailure: unknown = null
  // pipe() does not forward errors: a read error on the file must end the decompressor too.
  file.on('error', (err) => {
    fileFailure = err
    if (content !== file) content.destroy(err)
  })
  let offset = 0
  try {
    for await (const chunk of content) {
      offset += (chunk as Buffer).length
      yield chunk as Buffer
    }
  } catch (err) {
    if (fileFailure !== null) throw ioError(path, 'read', fileFailure)
    const reason = err instanceof Error ? err.message : String(err)
    throw corruptAt(path, offset, `decompression failed: ${reason}`, {}, err)
  } finally {
    file.destroy()
    content.destroy()
  }
}
