import { describe, expect, it } from 'vitest'
import { WorkerSlot } from '../../ingestor/worker-slot.js'

/** Doubles `n`; exits with code 3 when asked to die (a crashed decode or verify worker). */
const script = new URL(
  `data:text/javascript,${encodeURIComponent("import { parentPort } from 'node:worker_threads'; parentPort.on('message', (m) => (m.die ? process.exit(3) : parentPort.postMessage({ id: m.id, n: m.n * 2 })))")}`,
)

describe('WorkerSlot (the decode and verify workers)', () => {
  it('answers each request by id, rejects what a dying worker held, and starts a new worker for the next request', async () => {
    const slot = new WorkerSlot<{ id: number; n: number }>(script, 'test worker')
    try {
      const answers = await Promise.all([1, 2, 3].map((n) => slot.request((id) => ({ message: { id, n }, transfer: [] }))))
      expect(answers.map((a) => a.n)).toEqual([2, 4, 6])
      const held = slot.request((id) => ({ message: { id, n: 5 }, transfer: [] }))
      const dying = slot.request((id) => ({ message: { id, die: true }, transfer: [] }))
      await expect(dying).rejects.toMatchObject({ code: 'INGESTOR_DECODE_WORKER_FAILED', message: 'test worker exited with code 3' })
      // The one sent before the death was answered or rejected with it, never left hanging.
      await held.then(
        (answer) => expect(answer.n).toBe(10),
        (err: unknown) => expect(err).toMatchObject({ code: 'INGESTOR_DECODE_WORKER_FAILED' }),
      )
      expect(slot.pending).toBe(0)
      expect((await slot.request((id) => ({ message: { id, n: 21 }, transfer: [] }))).n).toBe(42)
    } finally {
      await slot.close()
    }
  })
})
