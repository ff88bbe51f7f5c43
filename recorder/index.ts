export { startRecorder, type RecorderHandle, type RecorderOptions, type RecorderState, type RecorderStatus, type RecorderSummary } from './recorder.js'
export { rotatedPath } from './rotating-writer.js'
export type { ContinuityCounts, Gap } from './continuity.js'
