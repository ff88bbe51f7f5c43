import type { Cluster, Redis } from 'ioredis'

/**
 * XGROUP CREATE <stream> <group> 0 MKSTREAM; an existing group (BUSYGROUP) is fine. '0': entries
 * already in the stream when the group is first created are delivered too.
 */
export async function ensureConsumerGroup(redis: Redis | Cluster, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM')
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err
  }
}
