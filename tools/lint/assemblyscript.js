// AssemblyScript for prettier and eslint. AssemblyScript is TypeScript syntax except for one thing
// both tools refuse: decorators where TypeScript allows none, on functions, variables and
// `declare`d imports (`@inline function f`, `@external("env", "x") declare function g`,
// `@lazy let x`). Everything else (`<u32>x` casts, `@unmanaged class`, decorated methods) parses.
//
// - prettier: the parser `assemblyscript` turns each such decorator into a marked block comment
//   before TypeScript parses the file, and the printer prints that comment back as the decorator,
//   where it was.
// - eslint: the processor `assemblyscript/assemblyscript` blanks each such decorator into a comment
//   of the same length, so every position, and every reported line and column, stays the same.
import { parsers as typescriptParsers } from "prettier/plugins/typescript";
import { printers as estreePrinters } from "prettier/plugins/estree";

// A decorator (with optional arguments on one line) at the start of a line, followed by what
// TypeScript allows no decorator on.
const FREE_DECORATOR =
  /^([ \t]*)@([A-Za-z_$][\w$]*(?:\([^()\n]*\))?)(?=\s+(?:export\s+)?(?:declare\s+)?(?:function|let|const|var|namespace|enum)\b)/gm;
const MARK = "@as:";

/** The source with each function/variable decorator as a `/*@as:…*\/` comment (prettier). */
export function commentDecorators(text) {
  return text.replace(FREE_DECORATOR, (_, indent, decorator) => `${indent}/*${MARK}${decorator}*/`);
}

/** The source with each function/variable decorator blanked into a same-length comment (eslint). */
export function blankDecorators(text) {
  return text.replace(FREE_DECORATOR, (_, indent, decorator) => {
    const length = decorator.length + 1;
    return indent + (length >= 4 ? `/*${" ".repeat(length - 4)}*/` : " ".repeat(length));
  });
}

const typescript = typescriptParsers.typescript;
const estree = estreePrinters.estree;

export const parsers = {
  assemblyscript: {
    ...typescript,
    astFormat: "assemblyscript-estree",
    preprocess: (text, options) =>
      commentDecorators(typescript.preprocess ? typescript.preprocess(text, options) : text),
  },
};

export const printers = {
  "assemblyscript-estree": {
    ...estree,
    printComment(commentPath, options) {
      const comment = commentPath.node;
      if (comment.type === "Block" || comment.type === "CommentBlock") {
        if (comment.value.startsWith(MARK)) return `@${comment.value.slice(MARK.length)}`;
      }
      return estree.printComment(commentPath, options);
    },
  },
};

export const languages = [];

/** The eslint processor (register it as a plugin's `processors.assemblyscript`). */
export const processor = {
  meta: { name: "assemblyscript" },
  preprocess: (text) => [blankDecorators(text)],
  postprocess: (messages) => messages.flat(),
  supportsAutofix: true,
};

export default { parsers, printers, languages, processors: { assemblyscript: processor } };
