// "Did you mean …?": the valid word nearest to a mistyped one, by edit distance. One rule for the emulator's policy
// file keys and the clavata tool's commands and options (the tool imports it from here: the emulator depends on
// nothing above it).

/** The number of single-character insertions, deletions, substitutions or swaps that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      // A swap of two neighbours ("polcy" for "policy" is a deletion; "ploicy" is a swap) counts as one edit.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word`, or undefined when none is near enough to be what the user meant: at most one
 * edit for words of up to four characters, two up to eight, three beyond; or a candidate that starts with a word of
 * three or more characters (`--pol` for `--policy`). Comparison ignores case and leading dashes.
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const bare = (s: string) => s.replace(/^-+/, "").toLowerCase();
  const target = bare(word);
  if (target === "") return undefined;
  const limit = target.length <= 4 ? 1 : target.length <= 8 ? 2 : 3;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const other = bare(candidate);
    let distance = editDistance(target, other);
    if (distance > limit && target.length >= 3 && other.startsWith(target)) distance = limit;
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** "; did you mean X?" for the nearest candidate, or "" when none is near. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const found = nearest(word, candidates);
  return found === undefined ? "" : `; did you mean ${found}?`;
}
