/**
 * A pod the agent cannot start because of the pod's own configuration (a
 * missing ConfigMap key, a hostPath that must exist and does not, a mount that
 * escapes its volume). Reported in the container's waiting state with
 * `reason`, like the kubelet's CreateContainerConfigError; the agent is fine.
 */
export class PodConfigError extends Error {
  constructor(
    readonly reason: "CreateContainerConfigError" | "CreateContainerError",
    message: string,
  ) {
    super(message);
    this.name = "PodConfigError";
  }
}

/** What a request names (a pod, a container) is not on this node. */
export class AgentNotFoundError extends Error {
  override name = "AgentNotFoundError";
}
