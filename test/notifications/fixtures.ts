import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { validateFiles, type DesiredStore } from "../../src/desired/index.ts";

/** Helpers for the notification tests: manifests applied as a commit, and a webhook receiver on 127.0.0.1. */

let commits = 0;

/** Applies YAML documents as one applied revision (what a Git sync of them would store). */
export async function applyManifests(store: DesiredStore, ...documents: string[]): Promise<string> {
  const { objects, problems } = validateFiles(documents.map((content, index) => ({ path: `m${index}.yaml`, content })));
  const errors = problems.filter((problem) => problem.severity === "error");
  if (errors.length > 0) throw new Error(`fixture manifests are invalid: ${JSON.stringify(errors)}`);
  const sha = randomBytes(20).toString("hex");
  await store.applyRevision(
    { sha, parentSha: null, authorName: "t", authorEmail: "t@capstan.invalid", message: `commit ${++commits}`, committedAt: new Date() },
    objects,
    [],
  );
  return sha;
}

export function notifierYaml(name: string, url: string, extra: string[] = [], namespace = "default"): string {
  return ["apiVersion: capstan.dev/v1", "kind: Notifier", `metadata: {name: ${name}, namespace: ${namespace}}`, "spec:", `  url: ${url}`, ...extra.map((line) => `  ${line}`), ""].join("\n");
}

export function secretYaml(name: string, key: string, value: string, namespace = "default"): string {
  return ["apiVersion: v1", "kind: Secret", `metadata: {name: ${name}, namespace: ${namespace}}`, "stringData:", `  ${key}: ${JSON.stringify(value)}`, ""].join("\n");
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** The status it was answered with; undefined while held open (hang). */
  status?: number;
}

/** How the receiver answers: 200, a status, or never (holds the request open). Down = not listening. */
export type ReceiverMode = { answer: number } | { hang: true };

/**
 * A webhook receiver on 127.0.0.1 that records every request. `down()` closes
 * the listening socket (connections are refused) and `up()` listens again on
 * the same port.
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  mode: ReceiverMode = { answer: 200 };
  #server: Server | undefined;
  #port = 0;
  readonly #hanging = new Set<ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook/secret-path-token`;
  }

  async up(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const mode = this.mode;
        const received: ReceivedRequest = { path: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() };
        this.requests.push(received);
        if ("hang" in mode) {
          this.#hanging.add(response);
          response.on("close", () => this.#hanging.delete(response));
          return;
        }
        received.status = mode.answer;
        response.writeHead(mode.answer, { "content-type": "text/plain" }).end(mode.answer < 300 ? "ok" : `not now: POST ${request.url}`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const response of this.#hanging) response.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests per Idempotency-Key, in arrival order. */
  byKey(): Map<string, ReceivedRequest[]> {
    const keys = new Map<string, ReceivedRequest[]>();
    for (const request of this.requests) {
      const key = String(request.headers["idempotency-key"]);
      keys.set(key, [...(keys.get(key) ?? []), request]);
    }
    return keys;
  }
}
