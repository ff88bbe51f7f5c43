import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'

/** Kernel clock ticks per second (utime/stime unit): asked once, 100 on every usual Linux. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * RSS and CPU of a child process from /proc (Linux only: elsewhere both stay null). CPU is
 * user + system time of all its threads since the previous read, as % of one core.
 */
export class ProcStats {
  private lastCpuSec: number | null = null
  private lastAtMs = 0

  constructor(private readonly pid: number) {}

  async read(): Promise<{ rssMb: number | null; cpuPercent: number | null }> {
    try {
      const [status, stat] = await Promise.all([readFile(`/proc/${this.pid}/status`, 'utf8'), readFile(`/proc/${this.pid}/stat`, 'utf8')])
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
      // Fields after "(comm)": comm may contain spaces; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const cpuSec = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
      const now = performance.now()
      const cpuPercent = this.lastCpuSec === null ? null : Math.round((1000 * 100 * (cpuSec - this.lastCpuSec)) / Math.max(1, now - this.lastAtMs))
      this.lastCpuSec = cpuSec
      this.lastAtMs = now
      return { rssMb: Number.isFinite(rssKb) ? Math.round(rssKb / 102.4) / 10 : null, cpuPercent }
    } catch {
      return { rssMb: null, cpuPercent: null } // exited, or no /proc
    }
  }
}
