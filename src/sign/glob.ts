// SPDX-License-Identifier: Apache-2.0
/**
 * Glob match for filter names and label values in trust policies: `*` matches any run of characters
 * (including none), `?` exactly one, everything else itself. The subject (a filter name or a label value)
 * comes from the artifact or the command line, so it is compared character by character and never
 * turned into a RegExp; the pattern comes from the policy file and is not compiled either.
 */
export function matchGlob(pattern: string, subject: string): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    if (p < pattern.length && (pattern[p] === "?" || pattern[p] === subject[s])) {
      p++;
      s++;
    } else if (p < pattern.length && pattern[p] === "*") {
      starP = p++;
      starS = s;
    } else if (starP >= 0) {
      p = starP + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/** True when any pattern matches. */
export function matchAny(patterns: readonly string[], subject: string): boolean {
  return patterns.some((pattern) => matchGlob(pattern, subject));
}
