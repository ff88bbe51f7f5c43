import { FirehoseError } from '../common/firehose-error.js'

export const ConsumerErrorCode = {
  /** A FirehoseConsumer option is out of range or of the wrong type (fields: option, value). */
  BadOption: 'CONSUMER_BAD_OPTION',
  /** start() on a consumer that is already running or was stopped. */
  AlreadyStarted: 'CONSUMER_ALREADY_STARTED',
  /** An entry is not in the stream contract (`type <t> data <json> seq <n>`): it is dead-lettered, never handed to a handler. */
  MalformedEntry: 'CONSUMER_MALFORMED_ENTRY',
  /**
   * On a Redis Cluster, deadLetterStream is not in the stream's hash slot: the dead-letter script
   * writes both and would fail with CROSSSLOT (fields: stream, deadLetterStream, streamSlot, deadLetterSlot, suggested).
   */
  DeadLetterSlot: 'CONSUMER_DEAD_LETTER_SLOT',
} as const
export type ConsumerErrorCode = (typeof ConsumerErrorCode)[keyof typeof ConsumerErrorCode]

export class ConsumerError extends FirehoseError<ConsumerErrorCode> {}
