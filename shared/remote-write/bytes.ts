// Byte-range comparisons in plain JS: label names are short, and Buffer#compare's
// native call costs more than the comparison itself (a third of validation time).

/** Sign of (buf[aS,aE) − buf[bS,bE)) in byte order, as Buffer.compare would give. */
export function compareRanges(a: Buffer, aS: number, aE: number, b: Buffer, bS: number, bE: number): number {
  const n = Math.min(aE - aS, bE - bS);
  for (let i = 0; i < n; i++) {
    const d = a[aS + i] - b[bS + i];
    if (d !== 0) return d;
  }
  return aE - aS - (bE - bS);
}

export function equalsBytes(buf: Buffer, s: number, e: number, lit: Buffer): boolean {
  if (e - s !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (buf[s + i] !== lit[i]) return false;
  return true;
}
