// The facts of the machine a run happened on, for the results table.

import * as fs from 'node:fs';
import * as os from 'node:os';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  date: string;
  loadAverage: string;
}

export function machineFacts(): MachineFacts {
  let model = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1].trim();
  } catch {
    // not Linux: os.cpus() is all there is
  }
  return {
    cpuModel: model,
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadAverage: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}
