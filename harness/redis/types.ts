export type RedisPersistence = 'none' | 'aof-everysec' | 'aof-always'
export type RedisKind = 'container' | 'process' | 'external'

export interface RedisStartOptions {
  /** Default 'none'. Ignored by external Redis (the harness never reconfigures a server it does not own). */
  persistence?: RedisPersistence
  password?: string
  /** Forces an implementation; else HARNESS_REDIS, else the first that works. */
  kind?: RedisKind
}

export interface RedisHandle {
  readonly kind: RedisKind
  /** Current URL (changes after restart({ newPort: true })); includes the password when one is set. */
  readonly url: string
  /** false for external Redis: kill() and restart() throw RedisCannotKillError. */
  readonly canKill: boolean
  /** Host directory holding the server's data (AOF) while it runs or is killed; null for external Redis. */
  readonly dataDir: string | null
  /** Stops the server and deletes its data. Idempotent. */
  stop(): Promise<void>
  /** SIGKILL: no shutdown save, the data dir is kept for restart(). */
  kill(): Promise<void>
  /** Starts the server again on the same data dir; same port unless newPort. Returns the URL. */
  restart(options?: { newPort?: boolean }): Promise<string>
  /** Runs one Redis command; the reply as redis-cli --raw would print it. */
  cli(...args: string[]): Promise<string>
}
