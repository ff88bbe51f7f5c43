import type { ContainerRuntimeClient } from 'testcontainers'

/** Built offline from this host's redis-server by docker/build-local-images.sh. */
export const DEFAULT_REDIS_IMAGE = 'appview-firehose/redis:local'

/** Label on every Redis container the harness starts: finds the leftovers of a harness that was SIGKILLed. */
export const CONTAINER_LABEL = 'appview-firehose.harness'

/** The image the container provider runs: HARNESS_REDIS_IMAGE, else DEFAULT_REDIS_IMAGE. */
export function redisImage(): string {
  const image = process.env.HARNESS_REDIS_IMAGE
  return image === undefined || image === '' ? DEFAULT_REDIS_IMAGE : image
}

let detected: Promise<ContainerRuntimeClient | string> | null = null

/**
 * The runtime client, or the reason no Docker/Podman answers. Detected once per process.
 * testcontainers is a dev dependency, imported only here, so the harness also runs with
 * production dependencies (then: no runtime).
 */
export function containerRuntime(): Promise<ContainerRuntimeClient | string> {
  // Ryuk (the reaper container) is an image from a registry these machines cannot reach; the
  // harness removes its containers itself (stop(), and CI by CONTAINER_LABEL). Set before import.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true'
  detected ??= import('testcontainers').then(({ getContainerRuntimeClient }) => getContainerRuntimeClient()).catch((err: unknown) => `no container runtime: ${err instanceof Error ? err.message : String(err)}`)
  return detected
}

/** Null when a container runtime answers, else the reason none does. */
export async function containerRuntimeUnavailableReason(): Promise<string | null> {
  const runtime = await containerRuntime()
  return typeof runtime === 'string' ? runtime : null
}

/**
 * Null when a runtime answers and `image` is present locally, else the reason Redis cannot run
 * in a container here. Never pulls: with no registry access a pull fails only after the
 * scenario has started, so a missing image means "use another provider", decided up front.
 */
export async function redisImageUnavailableReason(image: string = redisImage()): Promise<string | null> {
  const runtime = await containerRuntime()
  if (typeof runtime === 'string') return runtime
  const { ImageName } = await import('testcontainers')
  try {
    if (await runtime.image.exists(ImageName.fromString(image))) return null
  } catch (err) {
    return `cannot inspect image ${image}: ${err instanceof Error ? err.message : String(err)}`
  }
  return `image ${image} is not present locally (build it offline with docker/build-local-images.sh redis; the harness never pulls)`
}
