import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { DesiredStore } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { PodStatus } from "../protocol.ts";
import { podWarnings, warningKey } from "./pod-warnings.ts";
import { newRestarts } from "./restart-drift.ts";

export interface PodEventRecorderOptions {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
}

/**
 * The NodeManager's companion for the events that pod statuses call for:
 * a Warning per blocked container or failed pod (pod-warnings.ts), and a
 * DriftRepaired per agent-side restart (restart-drift.ts). It remembers what
 * it already recorded per pod, so that each is recorded once.
 */
export class PodEventRecorder {
  readonly #options: PodEventRecorderOptions;
  /** Per pod uid: the warnings its status calls for that were already recorded as events. */
  readonly #warned = new Map<string, Set<string>>();
  /** Restart counts per pod and container, to tell each agent-side restart as a DriftRepaired event. */
  readonly #restarts = new Map<string, Map<string, number>>();

  constructor(options: PodEventRecorderOptions) {
    this.#options = options;
  }

  /** A DriftRepaired event for each container restart on `node` since the counts last seen. */
  recordRestarts(node: string, changed: readonly PodStatus[]): void {
    for (const repair of newRestarts(this.#restarts, changed, node)) {
      const event = { objectUid: repair.uid, kind: "Pod", namespace: repair.namespace, name: repair.name, type: "Warning" as const, reason: "DriftRepaired", message: repair.message, source: "node-manager", at: this.#options.clock.now() };
      this.#options.store.recordEvent(event).catch((error: unknown) => this.#options.log.warn({ err: messageOf(error) }, "could not record an event"));
    }
  }

  /** A Warning event on the pod for each blocked container (or failed pod) the agent reports, once per appearance. */
  recordWarnings(changed: readonly PodStatus[]): void {
    for (const pod of changed) {
      const warnings = podWarnings(pod);
      const before = this.#warned.get(pod.uid);
      const now = new Set(warnings.map(warningKey));
      if (now.size === 0) this.#warned.delete(pod.uid);
      else this.#warned.set(pod.uid, now);
      for (const warning of warnings) {
        if (before?.has(warningKey(warning))) continue;
        const event = { objectUid: pod.uid, kind: "Pod", namespace: pod.namespace, name: pod.name, type: "Warning" as const, ...warning, source: "capstan-agent", at: this.#options.clock.now() };
        this.#options.store.recordEvent(event).catch((error: unknown) =>
          this.#options.log.warn({ pod: `${pod.namespace}/${pod.name}`, reason: warning.reason, err: messageOf(error) }, "could not record a pod event"),
        );
      }
    }
  }

  /** The pod is no longer reported: what was recorded for it is forgotten. */
  forget(uid: string): void {
    this.#warned.delete(uid);
    this.#restarts.delete(uid);
  }
}
