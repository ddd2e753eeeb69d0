import { Command } from "commander";
import { register as registerAdmission } from "./commands/admission.ts";
import { register as registerAgent } from "./commands/agent.ts";
import { register as registerArgo } from "./commands/argo.ts";
import { register as registerAudit } from "./commands/audit.ts";
import { register as registerBuild } from "./commands/build.ts";
import { register as registerControl } from "./commands/control.ts";
import { register as registerDisable } from "./commands/disable.ts";
import { register as registerFlagger } from "./commands/flagger.ts";
import { register as registerInit } from "./commands/init.ts";
import { register as registerInject } from "./commands/inject.ts";
import { register as registerIstio } from "./commands/istio.ts";
import { register as registerKeygen } from "./commands/keygen.ts";
import { register as registerNew } from "./commands/new.ts";
import { register as registerPolicy } from "./commands/policy.ts";
import { register as registerPull } from "./commands/pull.ts";
import { register as registerPush } from "./commands/push.ts";
import { register as registerRollback } from "./commands/rollback.ts";
import { register as registerRollout } from "./commands/rollout.ts";
import { register as registerSign } from "./commands/sign.ts";
import { register as registerSlots } from "./commands/slots.ts";
import { register as registerStatus } from "./commands/status.ts";
import { register as registerTest } from "./commands/test.ts";
import { register as registerVerify } from "./commands/verify.ts";
import { register as registerVersion } from "./commands/version.ts";

/** The whole `graft` command tree; each command lives in ./commands and stays thin over src/. */
export function createProgram(): Command {
  // A usage error is one line and the way to help, not the whole help text; main.ts maps the
  // CommanderErrors that exitOverride turns it into to exit codes (exit-codes.ts).
  const program = new Command("graft")
    .description("Inject logic into running Envoy proxies safely")
    .showHelpAfterError("(run graft help <command> for its options)")
    .exitOverride()
    .configureHelp({ sortSubcommands: true });
  for (const register of [
    registerAdmission,
    registerAgent,
    registerArgo,
    registerAudit,
    registerBuild,
    registerControl,
    registerDisable,
    registerFlagger,
    registerInit,
    registerInject,
    registerIstio,
    registerKeygen,
    registerNew,
    registerPolicy,
    registerPull,
    registerPush,
    registerRollback,
    registerRollout,
    registerSign,
    registerSlots,
    registerStatus,
    registerTest,
    registerVerify,
    registerVersion,
  ]) {
    register(program);
  }
  return program;
}
