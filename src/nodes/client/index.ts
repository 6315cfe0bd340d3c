/** The control plane's side of the node link. */
export { AgentNodeClient, type NodeClient, type NodeLinkState, type AgentNodeClientOptions } from "./node-client.ts";
export { FakeNodeClient, type FakeNodeClientOptions } from "./fake-node-client.ts";
export { NodeManager, type NodeLinkObserver, type NodeManagerOptions, type NodeObject } from "./node-manager.ts";
export { toAgentPod, referencedConfig, commitAnnotation } from "./agent-pod.ts";
export { readyCondition, nodeStatus, storedPodStatus, type NodeReadyCondition } from "./node-status.ts";
export { transportFactory, defaultAgentStateDir, type TransportDefaults } from "./transports.ts";
export { agentSocketPath, type AgentTransport, type AgentLocation, type HostKeyInfo } from "./transport.ts";
export { createSshTransport } from "./ssh-transport.ts";
export { createLocalTransport } from "./local-transport.ts";
export { AgentConnection, AgentRequestError } from "./connection.ts";
export { podTerminationFinalizer, holdsFinalizer, terminatedPods, type NodeView } from "./pod-termination.ts";
