import type { Command } from "commander";
import { loadAgentConfig } from "../../agent/config.ts";
import { startAgent } from "../../agent/daemon.ts";

/** `graft agent --config agent.yaml`: the enforcement point beside one Envoy (runs until stopped). */
export function register(program: Command): void {
  program
    .command("agent")
    .description(
      "run the graft agent beside one Envoy: the only writer of its slots, verifying every change against its own signed policy",
    )
    .requiredOption("--config <file>", "the agent's configuration (YAML; see src/agent/README.md)")
    .action(async (options: { config: string }) => {
      const config = await loadAgentConfig(options.config);
      const agent = await startAgent(config);
      console.log(`graft agent ${agent.name} listening on ${agent.url} (key ${config.key.keyId})`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await agent.stop();
    });
}
