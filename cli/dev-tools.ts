/**
 * The production image ships the ingestor and the stream tools, not the test harness and the
 * load tester (Dockerfile, .dockerignore). Commands built on those load them through this, so
 * that in the image they fail with one line saying where to run them instead of a module error.
 */
export class DevToolMissing extends Error {}

/** The folders the image leaves out; architecture.test.ts checks that only commands reach them, through here. */
export const DEV_TOOL_FOLDERS = ['harness', 'loadtest'] as const

export async function loadDevTool<T>(command: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const missing = code === 'ERR_MODULE_NOT_FOUND' && DEV_TOOL_FOLDERS.some((folder) => (err as Error).message.includes(`/dist/${folder}/`))
    if (!missing) throw err
    throw new DevToolMissing(
      `firehose ${command} needs the test tools, which this installation leaves out (the production image ships ingest, record, replay, verify, compare, repo, fixture); run it from a clone of the repository after npm ci`,
      { cause: err },
    )
  }
}

/** loadDevTool for a command's own code: when it is left out, prints the one line and resolves null (the command exits 2). */
export async function loadCommandTools<T>(command: string, load: () => Promise<T>): Promise<T | null> {
  try {
    return await loadDevTool(command, load)
  } catch (err) {
    if (!(err instanceof DevToolMissing)) throw err
    process.stderr.write(`${err.message}\n`)
    return null
  }
}
