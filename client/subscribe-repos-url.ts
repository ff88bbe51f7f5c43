import { isIP } from 'node:net'
import { quoteValue } from '../common/logger.js'
import { RelayClientError, RelayClientErrorCode } from './errors.js'

const SUBSCRIBE_REPOS_PATH = '/xrpc/com.atproto.sync.subscribeRepos'

/**
 * The full `.../xrpc/com.atproto.sync.subscribeRepos` URL of a relay given as a bare host
 * (`bsky.network`, `localhost:2470`), a ws(s) or http(s) origin, or the full URL. Throws
 * RelayClientError (RELAY_URL) with a message that quotes the value redacted.
 */
export function subscribeReposUrl(value: string): string {
  const bare = !/^[a-z]+:\/\//i.test(value)
  const refuse = (reason: string): never => {
    throw new RelayClientError(RelayClientErrorCode.RelayUrl, reason, { value, reason })
  }
  let parsed: URL
  try {
    parsed = new URL(bare ? `wss://${value}` : value)
  } catch {
    return refuse(`not a valid URL: ${quoteValue(bare ? `wss://${value}` : value)}`)
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(parsed.protocol)) refuse(`expected a ws: or wss: or http: or https: URL, got "${parsed.protocol}"`)
  // With a scheme any host goes (ws://replay:2470, a compose service); a bare word is a typo.
  if (bare && !plausibleHost(parsed.hostname)) refuse(`${quoteValue(value)} is not a relay: expected a host name with a dot (bsky.network), localhost or an IP address`)
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:'
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:'
  if (!parsed.pathname.endsWith(SUBSCRIBE_REPOS_PATH)) parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}${SUBSCRIBE_REPOS_PATH}`
  return parsed.toString()
}

function plausibleHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '')
  if (isIP(bare) !== 0 || bare === 'localhost') return true
  const labels = bare.replace(/\.$/, '').split('.')
  return labels.length >= 2 && labels.every((label) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(label)) && /[a-z]/i.test(labels.at(-1)!)
}
