// One reusable working buffer, for work done one piece at a time (a lane's record being
// split, a shard's batch being merged): it grows to the largest piece seen, doubling, up to
// maxBytes; a larger piece gets a fresh buffer of its own. A fresh buffer per piece cost
// page faults and GC (bench/README.md, sessions 4 and 5). What a piece wrote is valid until
// the next call.

export interface Scratch {
  /** a Buffer of exactly n bytes, a view on the reused memory when n <= maxBytes */
  (n: number): Buffer;
  /** lets the memory go (the next call allocates again) */
  drop(): void;
}

export function scratchBuffer(maxBytes: number): Scratch {
  let mem: Buffer | undefined;
  const get = ((n: number): Buffer => {
    if (n > maxBytes) return Buffer.allocUnsafe(n);
    if (!mem || mem.length < n) mem = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(n, 2 * (mem?.length ?? 0))));
    return mem.subarray(0, n);
  }) as Scratch;
  get.drop = () => {
    mem = undefined;
  };
  return get;
}
