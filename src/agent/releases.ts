/**
 * Release order for anti-downgrade: `MAJOR.MINOR.PATCH[-pre]` compared numerically, a pre-release
 * below its release. Returns null when either version is not of that form (then graft cannot tell
 * older from newer, and only an identical version counts as "the same").
 */
export function compareReleases(a: string, b: string): number | null {
  const parse = (version: string) => /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/.exec(version);
  const left = parse(a);
  const right = parse(b);
  if (!left || !right) return null;
  for (let index = 1; index <= 3; index++) {
    const diff = Number(left[index]) - Number(right[index]);
    if (diff !== 0) return Math.sign(diff);
  }
  const [preA, preB] = [left[4], right[4]];
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return preA < preB ? -1 : 1;
}
