import { getContainerRuntimeClient } from 'testcontainers'

let detected: Promise<string | null> | null = null

/**
 * Null when a container runtime (Docker, Podman) answers, else the reason none does.
 * Detected once per process: testcontainers' getContainerRuntimeClient() throws when none.
 */
export function containerRuntimeUnavailableReason(): Promise<string | null> {
  detected ??= getContainerRuntimeClient().then(
    () => null,
    (err: unknown) => `no container runtime: ${err instanceof Error ? err.message : String(err)}`,
  )
  return detected
}
