/**
 * The package's main export (`import { FirehoseConsumer } from 'appview-firehose'`): what an
 * AppView's workers and services use. Test helpers are in 'appview-firehose/testing'.
 */
export { FirehoseConsumer, type ConsumerStats, type EventHandler } from './consumer/consumer.js'
export { CONSUMER_DEFAULTS, type ConsumerOptions, type ShardChoice } from './consumer/options.js'
export type { RedisConnection } from './consumer/redis-client.js'
export type { AccountData, CommitData, EntryFormat, IdentityData, SnapshotData, SnapshotRecordsData, StreamEvent, StreamEventType, SyncData } from './consumer/events.js'
export type { DeadLetterReason } from './consumer/dead-letter.js'
export { ConsumerError, ConsumerErrorCode } from './consumer/errors.js'
export { createLegacyQueue, type LegacyQueue, type LegacyQueueEvent } from './consumer/legacy-queue.js'
export type { CommitOp } from './protocol/events.js'
export type { SnapshotBeginData, SnapshotEndData, SnapshotOp } from './protocol/snapshot-entry.js'
export { FirehoseError } from './common/firehose-error.js'
export { startIngestor, type IngestorHandle, type IngestorOptions, type IngestorStatus } from './ingestor/index.js'
export { backfill, BackfillError, BackfillErrorCode, type BackfillOptions, type BackfillProgress, type BackfillSelection } from './backfill/index.js'
