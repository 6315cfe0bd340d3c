/**
 * Both sides of the node link (DESIGN.md, nodes): the control-plane client
 * and the protocol it speaks with capstan-agent. The agent itself is
 * src/nodes/agent (its own door), run by `capstan-agent`.
 */
export * from "./client/index.ts";
export * from "./protocol.ts";
