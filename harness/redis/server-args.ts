import type { RedisPersistence } from './types.js'

/**
 * redis-server arguments shared by the process and container implementations, so both run
 * the same configuration. RDB snapshots are off: durability comes only from the AOF policy
 * under test.
 */
export function redisServerArgs(options: { persistence: RedisPersistence; password?: string | undefined; dir: string; port: number; bindHost: string }): string[] {
  const args = ['--port', String(options.port), '--dir', options.dir, '--save', '', '--bind', options.bindHost]
  switch (options.persistence) {
    case 'none':
      args.push('--appendonly', 'no')
      break
    case 'aof-everysec':
      args.push('--appendonly', 'yes', '--appendfsync', 'everysec')
      break
    case 'aof-always':
      args.push('--appendonly', 'yes', '--appendfsync', 'always')
      break
  }
  if (options.password !== undefined) args.push('--requirepass', options.password)
  return args
}

export function redisUrl(host: string, port: number, password: string | undefined): string {
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`
  return `redis://${auth}${host}:${port}`
}
