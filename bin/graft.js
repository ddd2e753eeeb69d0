#!/usr/bin/env node
// The `graft` command. graft runs its TypeScript sources directly through tsx, so the package
// needs no compile step between a checkout and a working CLI.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
