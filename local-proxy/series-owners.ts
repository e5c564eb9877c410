// Which shard holds each series' unsent samples, so that whole records can go to one shard
// as the sender's bytes (no decompress, split and compress per share) while every series
// stays in one shard, and so in timestamp order.
//
// Senders already keep series apart: Prometheus hashes its series onto its own shards and
// sends each shard's batches one after another, so the records of one of its shards share
// series with each other and with no other shard's. A record whose series are free or all
// owned by one shard goes whole to that shard (a free record to the least loaded one) and
// its free series become that shard's; a record whose series are owned by several shards is
// split by owner. Ownership ends when the owning shard has nothing queued or in flight
// (idle() bumps its generation, and entries of an older generation are free): the series
// has nothing unsent then, so it may go anywhere next.
//
// A stream owned by one shard can outgrow it (a sender with a single shard, after an
// outage): its series then move to their hash's shards at once, and what they carry on
// their new shards waits until the old one has settled everything it held before the move
// (the lane's barrier, Route.from), so they still arrive in order and the reader never
// stalls.
//
// Memory is bounded: an open-addressing table of 32-bit series hashes (two series with one
// hash are treated as one: only ever stricter). When it cannot take a record's new series
// even after dropping dead entries, the table turns to home mode until the next reset():
// a series without a live entry is owned by its hash's shard (hash % shards), as every
// series is without this table. Splitting then resumes, never reordering.
//
// Pure: no I/O, no clock.

/**
 * whole: to one shard, `owned` when some of its series already were that shard's; assign:
 * split, per series. `from`: series moved away from that shard, which still holds their
 * earlier samples: what goes to any other shard must wait until it has settled those.
 */
export type Route = { whole: number; owned: boolean } | { assign: Uint8Array; from?: number };

const EMPTY = 0;
/** an entry's second word: owning shard + 1 in the low 9 bits (0: empty slot), its generation above */
const OWNER_BITS = 9;
const OWNER_MASK = (1 << OWNER_BITS) - 1;
/** generations are kept modulo 2^23: a wrapped one can only make a dead entry look live (stricter, never out of order) */
const GEN_MASK = (1 << (32 - OWNER_BITS)) - 1;
const INITIAL_SLOTS = 1 << 12;
/** at most this share of the slots is taken (dead entries included) */
const LOAD = 0.5;

export class SeriesOwners {
  /**
   * Per slot two words: the series hash, then owner and generation (OWNER_BITS). One array,
   * so a probe touches one cache line: the table (10 k–1 M entries) is larger than the caches,
   * and three arrays made every lookup three misses (route was ~4 % of the forwarder's CPU).
   */
  private table!: Uint32Array;
  private used = 0;
  /** each shard's generation: bumped whenever it has nothing queued or in flight */
  private readonly gens: Uint32Array;
  private home = false;
  private assignOut = new Uint8Array(2048);
  private ownerOf = new Int32Array(2048);
  /** where route()'s lookup found each series (its entry, or the empty slot for it), so claiming does not probe again */
  private slotAt = new Int32Array(2048);

  /**
   * @param maxSlots the table's largest size in slots (8 bytes each); it holds up to half
   *   as many series with unsent samples before turning to home mode
   * @param maxShards shards are numbered below this (at most 256: assignments are bytes)
   */
  constructor(
    private readonly maxSlots = 1 << 20,
    maxShards = 256,
  ) {
    if (maxShards > 256) throw new RangeError(`SeriesOwners: at most 256 shards, not ${maxShards}`);
    if (!(maxSlots >= 2 && (maxSlots & (maxSlots - 1)) === 0)) throw new RangeError(`SeriesOwners: maxSlots must be a power of two, not ${maxSlots}`);
    this.gens = new Uint32Array(maxShards);
    this.reset();
  }

  /** true while series without an owner are placed by hash (the table was full) */
  get homeMode(): boolean {
    return this.home;
  }

  /** series entries, live or dead */
  get size(): number {
    return this.used;
  }

  /** The shard has nothing queued or in flight: its series are free. */
  idle(shard: number): void {
    this.gens[shard] = (this.gens[shard] + 1) & GEN_MASK;
  }

  /** Nothing is queued or in flight anywhere (or the shard count changed after everything settled): start over. */
  reset(): void {
    const slots = Math.min(INITIAL_SLOTS, this.maxSlots);
    this.table = new Uint32Array(2 * slots);
    this.used = 0;
    this.home = false;
  }

  /**
   * Where a record with these series hashes goes among `shards` shards: whole to one shard,
   * or split by the given per-series assignment. Series nobody owns go with the record's
   * owned series, or all to the shard `leastLoaded` picks (the sender's bytes): splitting
   * costs a decompress and a compress per share, so only a stream that outgrows its shard
   * pays it. `crowded(shard)`, with `spread` (a CPU to spare): a record wholly that shard's
   * moves its series to their hash's shards (Route.from).
   */
  route(hashes: Uint32Array, shards: number, leastLoaded: () => number, spread = false, crowded?: (shard: number) => boolean): Route {
    const n = hashes.length;
    if (!this.home) this.makeRoom(n);
    if (this.ownerOf.length < n) {
      this.ownerOf = new Int32Array(Math.max(n, 2 * this.ownerOf.length));
      this.slotAt = new Int32Array(this.ownerOf.length);
    }
    const ownerOf = this.ownerOf;
    const slotAt = this.slotAt;
    const table = this.table;
    let first = -1;
    let mixed = false;
    let owned = false;
    for (let i = 0; i < n; i++) {
      const h = hashes[i];
      const slot = this.slotOf(h);
      slotAt[i] = slot;
      let o = this.ownerIn(table[slot + 1]);
      if (o >= 0) owned = true;
      else if (this.home) o = h % shards;
      ownerOf[i] = o;
      if (o < 0) continue;
      if (first < 0) first = o;
      else if (o !== first) mixed = true;
    }
    if (!mixed && owned && spread && !this.home && crowded?.(first)) return this.move(hashes, shards, first);
    if (!mixed) {
      const to = first >= 0 ? first : leastLoaded();
      if (!this.home) for (let i = 0; i < n; i++) this.claimAt(slotAt[i], hashes[i], to);
      return { whole: to, owned };
    }
    // Series owned by several shards: each goes to its owner, free ones with the record's first.
    if (this.assignOut.length < n) this.assignOut = new Uint8Array(Math.max(n, 2 * this.assignOut.length));
    const assign = this.assignOut.subarray(0, n);
    for (let i = 0; i < n; i++) {
      let o = ownerOf[i];
      if (o < 0) o = first;
      if (!this.home) this.claimAt(slotAt[i], hashes[i], o);
      assign[i] = o;
    }
    return { assign };
  }

  /** Every series of the record to its hash's shard, away from `from` (which owns or would own them all). */
  private move(hashes: Uint32Array, shards: number, from: number): Route {
    const n = hashes.length;
    if (this.assignOut.length < n) this.assignOut = new Uint8Array(Math.max(n, 2 * this.assignOut.length));
    const assign = this.assignOut.subarray(0, n);
    let moved = false;
    for (let i = 0; i < n; i++) {
      const o = hashes[i] % shards;
      if (o !== from) moved = true;
      this.claim(hashes[i], o);
      assign[i] = o;
    }
    return moved ? { assign, from } : { whole: from, owned: true };
  }

  /** The index (into table) of h's entry, or of the empty slot where it would go. */
  private slotOf(h: number): number {
    const t = this.table;
    const mask = t.length - 2;
    let i = (h << 1) & mask;
    while ((t[i + 1] & OWNER_MASK) !== EMPTY && t[i] !== h) i = (i + 2) & mask;
    return i;
  }

  /** The live owner an entry's second word names, or -1 (empty slot, or a dead entry). */
  private ownerIn(w: number): number {
    const o = w & OWNER_MASK;
    if (o === EMPTY) return -1;
    return w >>> OWNER_BITS === this.gens[o - 1] ? o - 1 : -1;
  }

  private claim(h: number, shard: number): void {
    this.claimAt(this.slotOf(h), h, shard);
  }

  /**
   * Claims at the slot a lookup found for h. The lookup was made before this record's claims:
   * an empty slot it found may since hold another series of the record (two hashes probing
   * to the same free slot), so that case probes again.
   */
  private claimAt(slot: number, h: number, shard: number): void {
    const t = this.table;
    let i = slot;
    if ((t[i + 1] & OWNER_MASK) === EMPTY) this.used++;
    else if (t[i] !== h) {
      i = this.slotOf(h);
      if ((t[i + 1] & OWNER_MASK) === EMPTY) this.used++;
    }
    t[i] = h;
    t[i + 1] = (shard + 1) | (this.gens[shard] << OWNER_BITS);
  }

  /** Room for n more entries: grow, or drop dead entries; home mode when neither makes it. */
  private makeRoom(n: number): void {
    const slots = this.table.length / 2;
    if (this.used + n <= slots * LOAD) return;
    let want = slots;
    while (this.used + n > want * LOAD && want * 2 <= this.maxSlots) want *= 2;
    this.rehash(want);
    // at its largest, a table with little room left after dropping its dead would be
    // rehashed again by the next few records: home mode instead
    const limit = want > slots ? want * LOAD : slots * LOAD * 0.75;
    if (this.used + n > limit) this.home = true;
  }

  /** The live entries into a table of `slots` slots (dead ones are dropped on the way). */
  private rehash(slots: number): void {
    const old = this.table;
    this.table = new Uint32Array(2 * slots);
    this.used = 0;
    for (let i = 0; i < old.length; i += 2) {
      const w = old[i + 1];
      const o = w & OWNER_MASK;
      if (o === EMPTY || w >>> OWNER_BITS !== this.gens[o - 1]) continue;
      const j = this.slotOf(old[i]);
      this.table[j] = old[i];
      this.table[j + 1] = w;
      this.used++;
    }
  }
}
