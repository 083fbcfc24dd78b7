// CPU time and peak memory of another process, from /proc (Linux): CPU seconds are the change
// in utime+stime (fields 14 and 15 of /proc/PID/stat, in clock ticks); the peak is VmHWM from
// /proc/PID/status, reset before each measurement by writing 5 to /proc/PID/clear_refs.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

export interface ProcessFigures {
  cpuS: number;
  peakRssMiB: number;
  /** True when the peak could not be reset: the figure is the process's lifetime peak. */
  peakIsLifetime: boolean;
}

const CLOCK_TICKS = clockTicks();

export class ProcessMeter {
  #startTicks = 0;
  #peakReset = false;

  constructor(readonly pid: number) {}

  /** Marks the start of a measurement. */
  async begin(): Promise<void> {
    this.#peakReset = await writeFile(`/proc/${this.pid}/clear_refs`, '5').then(() => true, () => false);
    this.#startTicks = await cpuTicks(this.pid);
  }

  /** CPU seconds and peak RSS since begin(). */
  async end(): Promise<ProcessFigures> {
    const ticks = await cpuTicks(this.pid);
    return { cpuS: (ticks - this.#startTicks) / CLOCK_TICKS, peakRssMiB: await peakRssMiB(this.pid), peakIsLifetime: !this.#peakReset };
  }
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (the command name) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kB = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kB === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kB) / 1024;
}

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
