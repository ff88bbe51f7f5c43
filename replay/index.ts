export { startReplay } from './server.js'
export { DEFAULT_OUTBOX_FRAMES, DEFAULT_WINDOW_FRAMES, WINDOW_MAX_BYTES } from './settings.js'
export type { ReplayHandle, ReplayOptions, ReplayRate, ReplayStatus, ClientStatus, FaultRecord } from './types.js'
export { DEFAULT_MAX_CLIENTS, SUBSCRIBE_PATH } from './types.js'
export {
  FAULT_KINDS,
  REPO_FAULT_KINDS,
  SYNC_FAULT_KINDS,
  loadFaultPlan,
  parseFaultFlag,
  parseFaultPlan,
  parseFaultSpec,
  type FaultKind,
  type FaultPlan,
  type FaultSpec,
  type RepoFaultKind,
  type SyncFaultKind,
} from './faults.js'
export type { RepoResetRecord } from './repo-resets.js'
export type { SyncFaultRecord } from './sync-faults.js'
export { parseReplayRate } from './pacer.js'
export { ReplayError, ReplayErrorCode } from './errors.js'
export { readSeq, withSeq } from './seq-field.js'
