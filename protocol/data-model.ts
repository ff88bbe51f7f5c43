import { CID } from 'multiformats/cid'

/**
 * Converts a decoded DAG-CBOR value to the AT Protocol JSON data model:
 * CID links become `{"$link": "<cid>"}` and bytes become `{"$bytes": "<base64, no padding>"}`.
 */
export function toJsonModel(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Uint8Array) return { $bytes: bytesToBase64(value) }
  if (Array.isArray(value)) return value.map(toJsonModel)
  const cid = CID.asCID(value)
  if (cid) return { $link: cid.toString() }
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) out[key] = toJsonModel(inner)
  return out
}

export function bytesToBase64(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  let end = b64.length
  while (end > 0 && b64.charCodeAt(end - 1) === 61 /* = */) end--
  return b64.slice(0, end)
}
