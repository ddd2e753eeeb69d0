import tseslint from "typescript-eslint";
import assemblyscript from "./tools/lint/assemblyscript.js";

// AssemblyScript: the SDK (assembly/), each filter's (filters/<name>/assembly/) and the Wasm test
// modules' (tests/**/assembly/).
const ASSEMBLYSCRIPT = ["**/assembly/**/*.ts"];

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "build/",
      ".tools/",
      ".graft/",
      "tests/fixtures/*/scenarios/",
      "tests/fixtures/go-*/",
      "filters/*/assembly/contract.generated.ts",
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Function and variable decorators (@inline, @external, @lazy) are AssemblyScript's; the
    // processor hides them from the TypeScript parser without moving anything.
    files: ASSEMBLYSCRIPT,
    plugins: { assemblyscript },
    processor: "assemblyscript/assemblyscript",
    rules: {
      // Callbacks keep the ABI's full parameter lists, used or not.
      "@typescript-eslint/no-unused-vars": ["error", { args: "none", varsIgnorePattern: "^_" }],
      // `// @ts-ignore: decorator` is how AssemblyScript code tells TypeScript tooling about them.
      "@typescript-eslint/ban-ts-comment": ["error", { "ts-ignore": "allow-with-description" }],
    },
  },
);
