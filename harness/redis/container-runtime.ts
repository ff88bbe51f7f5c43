import type { ContainerRuntimeClient } from 'testcontainers'

/** Label on every Redis container the harness starts: finds the leftovers of a harness that was SIGKILLed. */
export const CONTAINER_LABEL = 'appview-firehose.harness'

/** The reason there is no container runtime when the package itself is absent (an installed appview-firehose without it). */
const TESTCONTAINERS_MISSING = 'testcontainers is not installed; it is an optional peer dependency, needed only to run Redis in a container'

let detected: Promise<ContainerRuntimeClient | string> | null = null

/**
 * The runtime client, or the reason no Docker/Podman answers. Detected once per process.
 * testcontainers is an optional peer dependency, imported only when asked for, so the harness
 * also runs without it (then: no runtime). Internal: its type is testcontainers' own, so no
 * public declaration may import this file (the public checks are in container-availability.ts).
 */
export function containerRuntime(): Promise<ContainerRuntimeClient | string> {
  // Ryuk (the reaper container) is an image from a registry these machines cannot reach; the
  // harness removes its containers itself (stop(), and CI by CONTAINER_LABEL). Set before import.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true'
  detected ??= import('testcontainers')
    .then(({ getContainerRuntimeClient }) => getContainerRuntimeClient())
    .catch((err: unknown) => (isTestcontainersMissing(err) ? TESTCONTAINERS_MISSING : `no container runtime: ${err instanceof Error ? err.message : String(err)}`))
  return detected
}

/** Node's error for the package itself missing (not one of its own dependencies, which is a broken install to report as is). */
function isTestcontainersMissing(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && err.message.startsWith("Cannot find package 'testcontainers' ")
}
