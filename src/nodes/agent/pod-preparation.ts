import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { AgentPod } from "../protocol.ts";
import { startFailure, type StartFailure } from "./container-slot.ts";
import { writePodHostsFile } from "./hosts-file.ts";
import { allocateHostPorts } from "./ports.ts";
import { prepareVolumes, type PreparedVolume } from "./volumes.ts";

export interface PodPreparationOptions {
  /** `<stateDir>/pods/<uid>`: the logs dir and the hosts file go here. */
  podDir: string;
  secretDir: string;
  claimsDir: string;
  hostIP: string;
  /** Recorded by a previous agent process: the pod keeps them. */
  hostPorts: Record<string, number>;
  log: Logger;
}

export type PreparationOutcome = { type: "prepared"; recovered: boolean } | { type: "failed"; failure: StartFailure };

/**
 * What a pod needs before any container launches: its host ports, its hosts
 * file and its volumes. Each step keeps what it got even when a later one
 * fails, so a retry keeps the same ports. The containers' launch specs read
 * the results.
 */
export class PodPreparation {
  readonly #options: PodPreparationOptions;
  #hostPorts: Record<string, number>;
  #hostsFile: string | undefined;
  #volumes: Map<string, PreparedVolume> | undefined;
  #error: StartFailure | undefined;

  constructor(options: PodPreparationOptions) {
    this.#options = options;
    this.#hostPorts = { ...options.hostPorts };
  }

  get hostPorts(): Record<string, number> {
    return this.#hostPorts;
  }

  get hostsFile(): string | undefined {
    return this.#hostsFile;
  }

  /** Undefined until a preparation has succeeded. */
  get volumes(): Map<string, PreparedVolume> | undefined {
    return this.#volumes;
  }

  /**
   * Prepares with the pod's data now (new ConfigMap/Secret data is used by
   * the next try). A failure is logged once per distinct message and
   * returned; `recovered` says a failure shown before is over.
   */
  async run(pod: AgentPod): Promise<PreparationOutcome> {
    try {
      await mkdir(join(this.#options.podDir, "logs"), { recursive: true });
      this.#hostPorts = await allocateHostPorts(pod, this.#options.hostIP, this.#hostPorts);
      this.#hostsFile = await writePodHostsFile(this.#options.podDir, pod.spec);
      this.#volumes = await prepareVolumes({
        pod,
        podDir: this.#options.podDir,
        secretDir: this.#options.secretDir,
        claimsDir: this.#options.claimsDir,
      });
      const recovered = this.#error !== undefined;
      this.#error = undefined;
      return { type: "prepared", recovered };
    } catch (error) {
      const failure = startFailure(error);
      if (failure.message !== this.#error?.message) this.#options.log.warn({ err: error }, "could not prepare the pod's ports and volumes");
      this.#error = failure;
      return { type: "failed", failure };
    }
  }
}
