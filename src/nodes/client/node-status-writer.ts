import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { canonicalJson, type DesiredStore } from "../../desired/index.ts";
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
 * heartbeat time.
 */
export class NodeStatusWriter {
  readonly #options: NodeStatusWriterOptions;
  #ready: NodeReadyCondition | undefined;
  #lastWrittenAt = 0;
  #lastWritten: string | undefined;

  constructor(options: NodeStatusWriterOptions) {
    this.#options = options;
  }

  async write(state: NodeLinkState): Promise<void> {
    const now = this.#options.clock.now();
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

  async #recordNotReady(ready: NodeReadyCondition): Promise<void> {
    try {
      await this.#options.store.recordEvent({
        kind: "Node",
        namespace: "",
        name: this.#options.node,
        type: "Warning",
        reason: "NodeNotReady",
        message: `Node ${this.#options.node} status is now: Ready=${ready.status} (${ready.reason}): ${ready.message}`,
        source: "node-controller",
        at: ready.lastTransitionTime ? new Date(ready.lastTransitionTime) : undefined,
      });
    } catch (error) {
      this.#options.log.warn({ node: this.#options.node, err: messageOf(error) }, "could not record a NodeNotReady event");
    }
  }
}
