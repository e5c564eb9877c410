// Request bodies, reused. Each write's body lives until its fan-out has finished, long
// enough to survive young-generation GCs; a fresh 100 KiB+ buffer per write then made V8
// run a full mark-compact every ~30 writes (bench/README.md, entry 10). Leasing bodies
// from a pool, as VictoriaMetrics's bytesutil.ByteBufferPool does, takes that away.
//
// A lease is a view of a pooled ArrayBuffer, given back with release() once nothing
// reads it any more. The relay owns its pool (Relay.bodies): callers read bodies into
// it and the relay releases them, and the blocks it leases, after answering, which is
// after every upstream request finished writing them. Leases are tracked weakly: one
// never given back (a write that threw half-way) is left to the GC, not kept.

export interface BufferPoolOptions {
  /** smallest buffer handed out; smaller requests get this size (default 64 KiB) */
  minBytes?: number;
  /** larger requests are allocated plainly and never pooled (default 8 MiB) */
  maxPooledBytes?: number;
  /** idle buffers kept, in bytes, across all sizes (default 64 MiB) */
  maxIdleBytes?: number;
  /** smaller requests are plain allocations, never pooled (default 0: every size is) */
  plainBelow?: number;
  /**
   * size classes per doubling (default 1: powers of two). 4 gives quarter steps (at most
   * 25 % unused), for leases held long and in numbers, where half-empty buffers add up.
   */
  classSteps?: 1 | 2 | 4 | 8;
}

export interface BufferPoolStats {
  idleBytes: number;
  /** acquisitions served from an idle buffer */
  reused: number;
  /** acquisitions that allocated */
  allocated: number;
}

export interface BufferPool {
  /** a Buffer of exactly `size` bytes (uninitialised), leased until release() or forget() */
  acquire(size: number): Buffer;
  /** gives a leased buffer back; anything else (a plain Buffer, a second release) is ignored */
  release(buf: Buffer): void;
  /** ends a lease without reuse: the buffer is left to the GC */
  forget(buf: Buffer): void;
  stats(): BufferPoolStats;
}

export function createBufferPool(opts: BufferPoolOptions = {}): BufferPool {
  const minBytes = opts.minBytes ?? 64 * 1024;
  const maxPooledBytes = opts.maxPooledBytes ?? 8 * 1024 * 1024;
  const maxIdleBytes = opts.maxIdleBytes ?? 64 * 1024 * 1024;
  const plainBelow = opts.plainBelow ?? 0;
  const steps = opts.classSteps ?? 1;
  // a class's idle list holds ArrayBuffers of that size
  const idle = new Map<number, ArrayBuffer[]>();
  const leased = new WeakSet<ArrayBuffer>();
  let idleBytes = 0;
  let reused = 0;
  let allocated = 0;

  const classOf = (size: number): number => {
    let c = minBytes;
    while (c < size) c *= 2;
    if (steps === 1 || c === minBytes) return c;
    // the doubling below c, split into `steps` equal steps
    const step = c / 2 / steps;
    return c / 2 + Math.ceil((size - c / 2) / step) * step;
  };

  return {
    acquire(size) {
      if (size < plainBelow) return Buffer.allocUnsafe(size);
      if (size > maxPooledBytes) {
        allocated++;
        return Buffer.allocUnsafeSlow(size);
      }
      const c = classOf(size);
      let ab = idle.get(c)?.pop();
      if (ab) {
        idleBytes -= c;
        reused++;
      } else {
        ab = new ArrayBuffer(c);
        allocated++;
      }
      leased.add(ab);
      return Buffer.from(ab, 0, size);
    },
    release(buf) {
      const ab = buf.buffer as ArrayBuffer;
      if (!leased.delete(ab)) return;
      const c = ab.byteLength;
      if (idleBytes + c > maxIdleBytes) return;
      let list = idle.get(c);
      if (!list) idle.set(c, (list = []));
      list.push(ab);
      idleBytes += c;
    },
    forget(buf) {
      leased.delete(buf.buffer as ArrayBuffer);
    },
    stats: () => ({ idleBytes, reused, allocated }),
  };
}

/**
 * Collects a body's chunks straight into one leased buffer: sized from the declared
 * Content-Length when there is one (up to DECLARED_LENGTH_TRUSTED_BYTES), moved to a
 * bigger lease if the chunks outgrow it.
 */
export interface BodyCollector {
  /** false once the body passed maxBytes (the collector then holds nothing) */
  add(chunk: Uint8Array): boolean;
  /** the body so far, leased from the pool (or empty) */
  finish(): Buffer;
  /** gives the lease back unused (an abandoned body) */
  abandon(): void;
}

/**
 * A declared length is trusted up to this for the first lease: a sender that declares 50 MB
 * and trickles a few bytes makes the relay hold 1 MiB, not 50 MB; larger bodies grow as
 * they arrive (each step doubles, so a few copies at most).
 */
export const DECLARED_LENGTH_TRUSTED_BYTES = 1024 * 1024;

export function collectBody(pool: BufferPool, maxBytes: number, declaredLength?: number): BodyCollector {
  let buf: Buffer | undefined;
  let size = 0;
  const initial =
    declaredLength !== undefined && declaredLength >= 0 && declaredLength <= maxBytes ? Math.min(declaredLength, DECLARED_LENGTH_TRUSTED_BYTES) : 0;
  return {
    add(chunk) {
      const n = chunk.byteLength;
      if (size + n > maxBytes) {
        this.abandon();
        return false;
      }
      if (!buf || size + n > buf.length) {
        // first chunk, or a body longer than declared: a lease with room, the bytes so far moved over
        const next = pool.acquire(Math.max(initial, size + n, buf ? Math.min(maxBytes, buf.length * 2) : 0));
        if (buf) {
          buf.copy(next, 0, 0, size);
          pool.release(buf);
        }
        buf = next;
      }
      buf.set(chunk, size);
      size += n;
      return true;
    },
    finish() {
      if (!buf) return Buffer.alloc(0);
      return size === buf.length ? buf : buf.subarray(0, size);
    },
    abandon() {
      if (buf) pool.release(buf);
      buf = undefined;
      size = 0;
    },
  };
}
