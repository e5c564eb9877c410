// In-process measurement: run a function over a payload set repeatedly for at least
// `minSeconds` of CPU per repetition, `reps` repetitions after one warm-up, and keep
// the CPU seconds per pass of each repetition (process.cpuUsage: user + system).

import { cpuSecondsSince, median } from './stats';

export interface Measured {
  /** CPU seconds per pass over the set, one per repetition */
  perPass: number[];
  median: number;
}

export function measureCpu(pass: () => void, opts: { reps: number; minSeconds: number }): Measured {
  // warm-up: let the JIT settle and size the repetition
  const w0 = process.cpuUsage();
  let warmPasses = 0;
  do {
    pass();
    warmPasses++;
  } while (cpuSecondsSince(w0) < opts.minSeconds / 2 && warmPasses < 10_000);
  const perPass: number[] = [];
  for (let r = 0; r < opts.reps; r++) {
    const c0 = process.cpuUsage();
    let passes = 0;
    let cpu: number;
    do {
      pass();
      passes++;
      cpu = cpuSecondsSince(c0);
    } while (cpu < opts.minSeconds && passes < 100_000);
    perPass.push(cpu / passes);
  }
  return { perPass, median: median(perPass) };
}

export async function measureCpuAsync(pass: () => Promise<void>, opts: { reps: number; minSeconds: number }): Promise<Measured> {
  const w0 = process.cpuUsage();
  let warmPasses = 0;
  do {
    await pass();
    warmPasses++;
  } while (cpuSecondsSince(w0) < opts.minSeconds / 2 && warmPasses < 10_000);
  const perPass: number[] = [];
  for (let r = 0; r < opts.reps; r++) {
    const c0 = process.cpuUsage();
    let passes = 0;
    let cpu: number;
    do {
      await pass();
      passes++;
      cpu = cpuSecondsSince(c0);
    } while (cpu < opts.minSeconds && passes < 100_000);
    perPass.push(cpu / passes);
  }
  return { perPass, median: median(perPass) };
}
