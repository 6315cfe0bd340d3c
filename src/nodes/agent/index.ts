/** capstan-agent, the node daemon: pods, runtimes, its socket server. */
export { Agent, AgentNotFoundError, AGENT_VERSION, type AgentOptions } from "./agent.ts";
export { serveAgent, answers, AgentAlreadyRunningError, type AgentServer } from "./server.ts";
export { loadState, saveState, stateFileName, type AgentState } from "./state.ts";
export { StateDirInUseError, stateDirInUse } from "./state-dir-lock.ts";
