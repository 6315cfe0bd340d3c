#!/usr/bin/env node
// The node agent, run straight from the TypeScript sources through tsx (no build step).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/capstan-agent.ts");
