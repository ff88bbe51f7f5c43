/**
 * Named errors with a stable `code` (like ws's WS_ERR_*). Callers branch on `code`,
 * never on message text. `fields` carries structured context for logs and metrics.
 */
export class FirehoseError<Code extends string = string> extends Error {
  readonly code: Code
  readonly fields: Readonly<Record<string, unknown>>

  constructor(code: Code, message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.fields = fields
  }
}
