import { spawn } from "node:child_process";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import { createLogger } from "../logging.ts";
import { Agent, AGENT_VERSION, AgentAlreadyRunningError, answers, serveAgent, stateDirInUse } from "../nodes/agent/index.ts";
import { runProgram } from "./program.ts";

/**
 * capstan-agent: the daemon on every node (DESIGN.md, nodes). The control
 * plane reaches its unix socket through an SSH stream-local forward (or
 * `connect`, a stdio bridge, where forwarding is off) and starts it with
 * `serve --daemon` when it is not running.
 */
const defaultStateDir = "/var/lib/capstan-agent";

const program = new Command("capstan-agent")
  .description("runs the pods capstan assigns to this host, with or without a control plane connected")
  .version(AGENT_VERSION)
  .showHelpAfterError();

const stateDirOption = () => new Option("--state-dir <dir>", "where the agent keeps its pods, logs and socket").default(defaultStateDir);

program
  .command("serve")
  .description("run the agent (in the foreground unless --daemon)")
  .addOption(stateDirOption())
  .option("--socket <path>", "unix socket to listen on (default <state-dir>/agent.sock)")
  .option("--daemon", "start in the background and exit once it listens (a no-op when one already runs)")
  .action(async (options: { stateDir: string; socket?: string; daemon?: boolean }) => {
    const stateDir = resolve(options.stateDir);
    const socketPath = options.socket ?? join(stateDir, "agent.sock");
    if (options.daemon) return daemonize(stateDir, socketPath);
    await serve(stateDir, socketPath);
  });

program
  .command("connect")
  .description("bridge stdin/stdout to the agent's socket, starting the agent if needed (for SSH exec channels)")
  .addOption(stateDirOption())
  .action(async (options: { stateDir: string }) => {
    const stateDir = resolve(options.stateDir);
    const socketPath = join(stateDir, "agent.sock");
    if (!(await answers(socketPath))) await daemonize(stateDir, socketPath);
    await new Promise<void>((resolvePromise, reject) => {
      const socket = createConnection(socketPath);
      socket.once("error", reject);
      socket.once("connect", () => {
        process.stdin.pipe(socket);
        socket.pipe(process.stdout);
      });
      socket.once("close", () => resolvePromise());
      process.stdin.once("end", () => socket.end());
    });
  });

async function serve(stateDir: string, socketPath: string): Promise<void> {
  const log = createLogger().child({ service: "capstan-agent", stateDir });
  // Before adopting anything: a second agent on one state dir would start duplicates of the first one's pods.
  // (The answer only covers an agent already listening; one still adopting is kept out by Agent.open's lock.)
  if (await answers(socketPath)) throw new AgentAlreadyRunningError(socketPath);
  const agent = await Agent.open({ stateDir, log });
  const server = await serveAgent(agent, socketPath, log).catch(async (error: unknown) => {
    await agent.close();
    throw error;
  });
  const pidFile = join(stateDir, "agent.pid");
  await writeFile(pidFile, `${process.pid}\n`, { mode: 0o600 });
  log.info({ socket: socketPath, pid: process.pid, pods: agent.statuses().length, runtimes: agent.info().runtimes }, "capstan-agent listening");

  // SIGTERM stops the agent, not the pods: they keep running and a restarted agent re-adopts them.
  await new Promise<void>((resolvePromise) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      log.info({ signal }, "capstan-agent stopping; pods keep running");
      resolvePromise();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
  await server.close();
  await agent.close();
  await rm(pidFile, { force: true });
}

/** Starts a detached agent writing to <state-dir>/agent.log and waits until its socket answers. */
async function daemonize(stateDir: string, socketPath: string): Promise<void> {
  if (await answers(socketPath)) return;
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const logPath = join(stateDir, "agent.log");
  const logFile = await open(logPath, "a", 0o600);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, "serve", "--state-dir", stateDir, "--socket", socketPath], {
    detached: true,
    stdio: ["ignore", logFile.fd, logFile.fd],
    env: process.env,
  });
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  child.unref();
  await logFile.close();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await answers(socketPath)) return;
    // Ours gave way to an agent that another start got going first (StateDirInUseError): wait for that one to listen.
    if (exited !== undefined && !(await stateDirInUse(stateDir))) break;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 50));
  }
  const tail = (await readFile(logPath, "utf8").catch(() => "")).split("\n").slice(-6).join("\n");
  throw new Error(`capstan-agent did not start (${exited !== undefined ? `exit ${exited}` : "timed out"}); ${logPath} ends:\n${tail}`);
}

await runProgram(program, process.argv);
