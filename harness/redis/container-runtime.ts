let detected: Promise<string | null> | null = null

/**
 * Null when a container runtime (Docker, Podman) answers, else the reason none does.
 * Detected once per process: testcontainers' getContainerRuntimeClient() throws when none.
 * testcontainers is a dev dependency, imported only here and in container-redis.ts, so the
 * harness also runs with production dependencies (then: no runtime).
 */
export function containerRuntimeUnavailableReason(): Promise<string | null> {
  detected ??= import('testcontainers')
    .then(({ getContainerRuntimeClient }) => getContainerRuntimeClient())
    .then(
      () => null,
      (err: unknown) => `no container runtime: ${err instanceof Error ? err.message : String(err)}`,
    )
  return detected
}
