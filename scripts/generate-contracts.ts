// Writes every filter's assembly/contract.generated.ts from its filter.json. `npm run build` does
// this too; the AssemblyScript unit tests (`npm run test:as`) run it first, as they compile the
// filters' sources without building them.
import { writeContractConstants } from "../src/compile/compile.ts";
import { listFilters } from "../src/filters/catalog.ts";

try {
  for (const filter of listFilters()) writeContractConstants(filter);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
