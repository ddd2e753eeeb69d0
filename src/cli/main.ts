import { createProgram } from "./program.ts";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: unknown }).code;
  console.error(
    `graft: ${typeof code === "string" && /^[A-Z_]+$/.test(code) ? `${code}: ` : ""}${(error as Error).message}`,
  );
  process.exitCode = 1;
}
