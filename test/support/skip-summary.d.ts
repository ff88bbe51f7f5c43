/** Types of skip-summary.js (plain JavaScript: .ci/summary.mjs imports it without a build). */

export declare const NO_REASON: string

export declare function skipReason(test: { note?: string | undefined; meta?: { skipReason?: string | undefined } | undefined; todo: boolean }): string

export declare function skipSummaryLines(reasons: readonly string[]): string[]
