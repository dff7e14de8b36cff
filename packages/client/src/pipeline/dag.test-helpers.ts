/** A plain object whose one key is read through a getter that counts the reads. */
export function countedLeaf(): { leaf: Record<string, unknown>; reads: () => number } {
  let reads = 0;
  const leaf = {
    get v() {
      reads++;
      return 'x';
    },
  };
  return { leaf, reads: () => reads };
}

/** `depth` arrays of `n` references each to the one below: n^depth leaves in n * depth slots. */
export function dag(leaf: unknown, n: number, depth: number): unknown {
  let v = leaf;
  for (let d = 0; d < depth; d++) v = new Array<unknown>(n).fill(v);
  return v;
}
