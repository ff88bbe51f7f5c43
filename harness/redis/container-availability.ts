import { containerRuntime } from './container-runtime.js'

// Public (re-exported by harness/redis and appview-firehose/testing): nothing here may name a
// testcontainers type, which a consumer without that optional peer dependency cannot resolve.

/** Built offline from this host's redis-server by docker/build-local-images.sh. */
export const DEFAULT_REDIS_IMAGE = 'appview-firehose/redis:local'

/** The image the container provider runs: HARNESS_REDIS_IMAGE, else DEFAULT_REDIS_IMAGE. */
export function redisImage(): string {
  const image = process.env.HARNESS_REDIS_IMAGE
  return image === undefined || image === '' ? DEFAULT_REDIS_IMAGE : image
}

/** Null when a container runtime answers, else the reason none does (testcontainers not installed, no daemon). */
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
