import { createProgram } from "./program.ts";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  console.error(`graft: ${(error as Error).message}`);
  process.exitCode = 1;
}
