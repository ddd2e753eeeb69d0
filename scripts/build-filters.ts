// `npm run build [-- <filter>...]`: compiles filters to build/<name>.wasm (release) and
// build/debug/<name>.wasm, plus the Wasm test fixtures, and prints each module's size.
import { buildAll, formatBuildReport } from "../src/compile/compile.ts";

try {
  const modules = await buildAll(process.argv.slice(2));
  console.log(formatBuildReport(modules));
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
