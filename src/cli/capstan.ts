import { Command } from "commander";
import { runProgram } from "./program.ts";
import { registerHistory } from "./history.ts";
import { registerJobs } from "./jobs.ts";
import { registerLogs, registerNodes } from "./nodes.ts";
import { registerRollback } from "./rollback.ts";
import { registerPods, registerStatus } from "./status.ts";
import { registerSync } from "./sync.ts";
import { registerUp } from "./up.ts";
import { registerValidate } from "./validate.ts";

const program = new Command("capstan")
  .description("GitOps for plain Linux hosts: Git commits in, running processes out")
  .version("0.1.0")
  .showHelpAfterError();

registerUp(program);
registerValidate(program);
registerHistory(program);
registerStatus(program);
registerPods(program);
registerJobs(program);
registerNodes(program);
registerLogs(program);
registerRollback(program);
registerSync(program);

await runProgram(program, process.argv);
