import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { canonicalJson, type DesiredStore, type NewEvent } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { NodeLinkState } from "./node-client.ts";
import { nodeStatus, readyCondition, type NodeReadyCondition } from "./node-status.ts";

export interface NodeStatusWriterOptions {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  /** The Node object's name and address. */
  node: string;
  address: string;
  /** A heartbeat alone rewrites the Node row at most this often (default 20 s; state changes are written at once). */
  heartbeatWriteMs?: number;
}

/**
 * Writes one Node's status from its link state (node-status.ts makes the
 * shape): keeps the Ready condition across writes so that its transition time
 * is when the status changed, and skips rewrites that would only move the
 * heartbeat time. An agent that cannot write its state (a full disk) is
 * also an event on the Node, once when it starts and once when it ends: the
 * pods keep running, but what the node was told meanwhile is not on its disk.
 */
export class NodeStatusWriter {
  readonly #options: NodeStatusWriterOptions;
  #ready: NodeReadyCondition | undefined;
  #lastWrittenAt = 0;
  #lastWritten: string | undefined;
  #stateError: string | undefined;

  constructor(options: NodeStatusWriterOptions) {
    this.#options = options;
  }

  async write(state: NodeLinkState): Promise<void> {
    const now = this.#options.clock.now();
    if (state.info && state.info.stateError !== this.#stateError) {
      const previousError = this.#stateError;
      this.#stateError = state.info.stateError;
      await this.#recordStateError(this.#stateError, previousError, now);
    }
    const ready = readyCondition(state, this.#ready, now);
    const previous = this.#ready?.status;
    const transitioned = previous !== ready.status;
    this.#ready = ready;
    // As Kubernetes' node controller: a node that was Ready and no longer is gets a NodeNotReady event
    // (notifications forward it); one refused for good (False) gets it even before it was ever Ready.
    if (transitioned && ready.status !== "True" && (previous === "True" || ready.status === "False")) await this.#recordNotReady(ready);
    const status = nodeStatus(state, this.#options.address, ready);
    // Everything but the heartbeat time: a change there is written at once, a heartbeat alone only now and then.
    const withoutHeartbeat = canonicalJson({ ...status, conditions: [{ ...ready, lastHeartbeatTime: null }] });
    const heartbeatOnly = withoutHeartbeat === this.#lastWritten && !transitioned;
    if (heartbeatOnly && now.getTime() - this.#lastWrittenAt < (this.#options.heartbeatWriteMs ?? 20_000)) return;
    this.#lastWritten = withoutHeartbeat;
    this.#lastWrittenAt = now.getTime();
    try {
      await this.#options.store.updateStatuses([{ key: { kind: "Node", namespace: "", name: this.#options.node }, status }]);
    } catch (error) {
      this.#lastWritten = undefined;
      this.#options.log.warn({ node: this.#options.node, err: messageOf(error) }, "could not write node status");
    }
  }

  #recordNotReady(ready: NodeReadyCondition): Promise<void> {
    const node = this.#options.node;
    const message = `Node ${node} status is now: Ready=${ready.status} (${ready.reason}): ${ready.message}`;
    const at = ready.lastTransitionTime ? new Date(ready.lastTransitionTime) : undefined;
    return this.#record({ type: "Warning", reason: "NodeNotReady", message, source: "node-controller", at }, "a NodeNotReady event");
  }

  #recordStateError(stateError: string | undefined, previous: string | undefined, at: Date): Promise<void> {
    const node = this.#options.node;
    const event = stateError
      ? {
          type: "Warning" as const,
          reason: "AgentStateWriteFailed",
          message: `node ${node}: the agent cannot write its state: ${stateError}; its pods keep running, and changes sent meanwhile are applied but not saved`,
        }
      : { type: "Normal" as const, reason: "AgentStateWritten", message: `node ${node}: the agent writes its state again (it had failed: ${previous})` };
    return this.#record({ ...event, source: "node-link", at }, "the agent's state write error");
  }

  /** An event on this Node; a store that cannot take it costs a log line, never the status write. */
  async #record(event: Pick<NewEvent, "type" | "reason" | "message" | "source" | "at">, what: string): Promise<void> {
    const node = this.#options.node;
    try {
      await this.#options.store.recordEvent({ kind: "Node", namespace: "", name: node, ...event });
    } catch (error) {
      this.#options.log.warn({ node, err: messageOf(error) }, `could not record ${what}`);
    }
  }
}
