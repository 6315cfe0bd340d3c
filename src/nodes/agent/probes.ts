import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import type { Container, Probe } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import { hostPortKey } from "./ports.ts";
import type { ContainerHandle } from "./runtime/types.ts";

/**
 * Probes, as the kubelet runs them (pkg/probe, pkg/kubelet/prober): one
 * effect (`runProbe`: an HTTP GET, a TCP connect or an exec in the
 * container) and two pure pieces, the consecutive-result tracker
 * (`ProbeState`) and the schedule (`probeDelayMs`).
 */

/** The action part of a probe or lifecycle hook. */
export type ProbeHandler = Pick<Probe, "httpGet" | "tcpSocket" | "exec">;
export type HttpGetAction = NonNullable<Probe["httpGet"]>;

export interface ProbeTarget {
  /** Default host for httpGet/tcpSocket (a host process shares the node's network). */
  host: string;
  /** The pod's host ports, keyed by hostPortKey (`<container>/<port name or number>`). */
  hostPorts: Record<string, number>;
  containerName: string;
  /** The container's declared ports: a numbered probe port that one of them declares goes to its host port. */
  ports?: Container["ports"];
  handle: ContainerHandle;
}

export interface ProbeOutcome {
  ok: boolean;
  message?: string;
}

/** Bytes of a response body or exec output kept for a failure message (the kubelet keeps 10 KiB; statuses stay small). */
const maxMessageBytes = 1024;

export async function runProbe(probe: ProbeHandler, target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  try {
    if (probe.exec) return await execProbe(probe.exec.command, target.handle, timeoutMs);
    if (probe.httpGet) {
      const { ok, message } = await httpGet(probe.httpGet, target, timeoutMs);
      return message === undefined ? { ok } : { ok, message };
    }
    if (probe.tcpSocket) {
      const host = probe.tcpSocket.host ?? target.host;
      return await tcpConnect(host, resolvePort(probe.tcpSocket.port, target), timeoutMs);
    }
    return { ok: false, message: "the probe has no handler" };
  } catch (error) {
    return { ok: false, message: messageOf(error) };
  }
}

/**
 * The host port a probe's `port` reaches: a name is the container's named
 * port; a number the container declares is that port's host port (a host
 * process listens on its host port, not the container port); any other
 * number is used as it is.
 */
export function resolvePort(port: number | string, target: Pick<ProbeTarget, "hostPorts" | "containerName" | "ports">): number {
  const declared = (target.ports ?? []).find((candidate) =>
    typeof port === "string" ? candidate.name === port : candidate.containerPort === port,
  );
  if (declared) {
    const hostPort = target.hostPorts[hostPortKey(target.containerName, declared)] ?? declared.hostPort;
    if (hostPort !== undefined) return hostPort;
  }
  if (typeof port === "number") return port;
  const byName = target.hostPorts[`${target.containerName}/${port}`];
  if (byName === undefined) throw new Error(`container ${target.containerName} has no port named ${JSON.stringify(port)}`);
  return byName;
}

async function execProbe(argv: string[], handle: ContainerHandle, timeoutMs: number): Promise<ProbeOutcome> {
  const result = await handle.exec(argv, timeoutMs);
  const output = result.output.trim().slice(0, maxMessageBytes);
  if (result.timedOut) return { ok: false, message: `command timed out after ${timeoutMs} ms${output ? `: ${output}` : ""}` };
  if (result.exitCode === 0) return output ? { ok: true, message: output } : { ok: true };
  const status = result.exitCode === null ? "was killed" : `exited with ${result.exitCode}`;
  return { ok: false, message: `command ${JSON.stringify(argv.join(" "))} ${status}${output ? `: ${output}` : ""}` };
}

/**
 * GET, success = 200–399 (redirects are not followed: a 3xx is a success, as
 * the kubelet counts a redirect to another host). HTTPS accepts any
 * certificate, as the kubelet does. The timeout covers connect and response.
 */
export function httpGet(
  action: HttpGetAction,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome & { statusCode?: number }> {
  const port = resolvePort(action.port, target);
  const host = action.host ?? target.host;
  const request = action.scheme === "HTTPS" ? httpsRequest : httpRequest;
  const url = `${action.scheme === "HTTPS" ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}${action.path}`;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: ProbeOutcome & { statusCode?: number }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(outcome);
    };
    const req = request(
      url,
      {
        method: "GET",
        headers: { "user-agent": "capstan-probe/1", accept: "*/*", connection: "close" },
        rejectUnauthorized: false,
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on("data", (chunk: Buffer) => {
          if (kept >= maxMessageBytes) return;
          chunks.push(chunk);
          kept += chunk.length;
        });
        response.on("error", (error) => finish({ ok: false, message: `${url}: ${error.message}` }));
        response.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8").slice(0, maxMessageBytes).trim();
          if (status >= 200 && status < 400) finish({ ok: true, statusCode: status, ...(body ? { message: body } : {}) });
          else finish({ ok: false, statusCode: status, message: `HTTP probe failed with statuscode: ${status}${body ? `: ${body}` : ""}` });
        });
      },
    );
    const timer = setTimeout(
      () => finish({ ok: false, message: `Get "${url}": timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on("error", (error) => finish({ ok: false, message: `Get "${url}": ${error.message}` }));
    req.end();
  });
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    const socket = connect({ host, port });
    const finish = (outcome: ProbeOutcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ ok: false, message: `dial tcp ${host}:${port}: timed out after ${timeoutMs} ms` }), timeoutMs);
    socket.once("connect", () => finish({ ok: true }));
    socket.once("error", (error) => finish({ ok: false, message: `dial tcp ${host}:${port}: ${error.message}` }));
  });
}

// ------------------------------------------------------------ pure decisions

export type ProbeResult = "success" | "failure" | "unknown";

export interface ProbeThresholds {
  successThreshold: number;
  failureThreshold: number;
}

/**
 * The kubelet's consecutive-result rule (prober/worker.go): a result takes
 * effect only after `successThreshold` successes or `failureThreshold`
 * failures in a row; below that, the previous result stands.
 * Initial results: readiness "failure" (not ready until proven), liveness
 * "success", startup "unknown".
 */
export class ProbeState {
  #result: ProbeResult;
  #last: boolean | undefined;
  #run = 0;

  constructor(
    readonly thresholds: ProbeThresholds,
    initial: ProbeResult = "unknown",
  ) {
    this.#result = initial;
  }

  get result(): ProbeResult {
    return this.#result;
  }

  /** Counts one probe outcome; true when the effective result changed. */
  observe(ok: boolean): boolean {
    if (this.#last === ok) this.#run += 1;
    else {
      this.#last = ok;
      this.#run = 1;
    }
    const needed = ok ? this.thresholds.successThreshold : this.thresholds.failureThreshold;
    if (this.#run < needed) return false;
    const next: ProbeResult = ok ? "success" : "failure";
    const changed = next !== this.#result;
    this.#result = next;
    return changed;
  }
}

/**
 * When the next probe is due, in ms from now: the first one once the
 * container has run `initialDelaySeconds` (counted from its start, so a
 * container that was adopted or passed its startup probe late is probed at
 * once), then every `periodSeconds`.
 */
export function probeDelayMs(
  probe: Pick<Probe, "initialDelaySeconds" | "periodSeconds">,
  at: { first: boolean; runningForMs: number },
): number {
  if (at.first) return Math.max(0, probe.initialDelaySeconds * 1000 - at.runningForMs);
  return probe.periodSeconds * 1000;
}
