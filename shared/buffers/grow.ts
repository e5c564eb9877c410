// A typed array grown to `length`, its contents copied: for tables kept in parallel
// Int32Arrays (the validator's rewrite plan, the relabel verdict cache).
export function grownInt32(a: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}
