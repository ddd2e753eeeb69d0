// README.md's walkthrough as commands: the sh block after the walkthrough marker, with comments
// dropped, continuation lines joined and each line split into words as a shell would (quotes).
import { readFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/util/paths.ts";

export const WALKTHROUGH_MARKER = "<!-- walkthrough:";

export function walkthroughCommands(
  readme = readFileSync(path.join(projectRoot, "README.md"), "utf8"),
): string[][] {
  const at = readme.indexOf(WALKTHROUGH_MARKER);
  if (at < 0) throw new Error(`README.md has no ${WALKTHROUGH_MARKER} marker`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error("no ```sh block after the walkthrough marker");
  return block[1]!
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map(words)
    .filter((line) => line.length > 0);
}

/** Shell words: whitespace separates, "…" and '…' quote, # outside quotes starts a comment. */
export function words(line: string): string[] {
  const result: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = undefined;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      current ??= "";
    } else if (char === "#" && current === undefined) {
      break;
    } else if (/\s/.test(char)) {
      if (current !== undefined) result.push(current);
      current = undefined;
    } else {
      current = (current ?? "") + char;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${line}`);
  if (current !== undefined) result.push(current);
  return result;
}
