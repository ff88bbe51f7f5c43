// A worker process for crash.test.ts: imports the package by its name, as an AppView would,
// records every event it handles (RPUSH), and is SIGKILLed by the test mid-batch.
import { FirehoseConsumer } from 'appview-firehose'
import { Redis } from 'ioredis'

const [redisUrl, stream, handledKey] = process.argv.slice(2)
const log = new Redis(redisUrl)
const consumer = new FirehoseConsumer({ redis: redisUrl, stream, consumer: 'doomed', count: 20, blockMs: 50 })
await consumer.start(async (event) => {
  await log.rpush(handledKey, `doomed ${event.seq} ${event.deliveries}`)
  await new Promise((resolve) => setTimeout(resolve, 20))
})
process.stdout.write('started\n')
