import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { startRedis } from '../../harness/redis/index.js'
import { startRig } from '../../loadtest/rig.js'

const FIXTURE = fileURLToPath(new URL('../../fixtures/generated.fixture.gz', import.meta.url))

it('loadtest --redis with a password: the ingestor child gets the URL without it on its command line', async () => {
  const secret = 'loadtest-cmdline-secret'
  const redis = await startRedis({ kind: 'process', password: secret })
  try {
    // startRig returns once the child is connected to the replay, i.e. past its Redis checks (NOAUTH would exit 4).
    const rig = await startRig({ fixture: FIXTURE, redisUrl: redis.url, seed: 1 })
    try {
      const cmdline = (await readFile(`/proc/${rig.ingestor.pid}/cmdline`, 'utf8')).split('\0')
      expect(cmdline).toContain('ingest')
      expect(cmdline.join(' ')).not.toContain(secret)
      expect(rig.ingestor.exit).toBeNull()
    } finally {
      await rig.close()
    }
  } finally {
    await redis.stop()
  }
})
