import { fileURLToPath } from 'node:url'

/** Real network data: `../shared/data/real` beside the repository (the same layout on CI). */
export const REAL_DATA = fileURLToPath(new URL('../../shared/data/real', import.meta.url))
