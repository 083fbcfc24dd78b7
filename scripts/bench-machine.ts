// The machine a benchmark ran on, so results can be compared from one run to the next.
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, totalmem, type as osType } from 'node:os';

export interface Machine { nproc: number; cpuModel: string; memTotalMiB: number; node: string; kernel: string }

export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    nproc: availableParallelism(),
    cpuModel: model.trim(),
    memTotalMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    kernel: `${osType()} ${release()}`,
  };
}
