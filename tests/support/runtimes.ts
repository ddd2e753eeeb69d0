import { dockerAvailable } from "../../src/envoy/container.ts";
import type { EnvoyRuntime } from "../../src/envoy/runtime.ts";

/**
 * The Envoy runtimes a real-Envoy suite runs under: the process always, the container when a Docker
 * engine answers (otherwise its suites are skipped with the reason). GRAFT_TEST_RUNTIMES=process
 * narrows the matrix.
 */
export interface RuntimeCase {
  runtime: EnvoyRuntime;
  /** Set when this runtime cannot run here: the suite is skipped with it as the reason. */
  skip?: string;
}

async function matrix(): Promise<RuntimeCase[]> {
  const wanted = (process.env.GRAFT_TEST_RUNTIMES ?? "process,container").split(",").map((r) => r.trim());
  const cases: RuntimeCase[] = [];
  if (wanted.includes("process")) cases.push({ runtime: "process" });
  if (wanted.includes("container")) {
    const docker = await dockerAvailable();
    cases.push({ runtime: "container", skip: docker.ok ? undefined : docker.reason });
  }
  return cases;
}

export const RUNTIMES: RuntimeCase[] = await matrix();
