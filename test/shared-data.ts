import { fileURLToPath } from 'node:url'

/** Real network data committed with the tests (sources and licences: test/data/real/README.md). */
export const REAL_DATA = fileURLToPath(new URL('./data/real', import.meta.url))
