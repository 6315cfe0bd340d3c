import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Piscina } from "piscina";
import { restoreFieldLocations } from "./object-locations.ts";
import type { SourceFile } from "./types.ts";
import type { ValidationResult } from "./validate.ts";
import type { WorkerFileResult } from "./validate-worker.ts";

/** Files per task: small enough to balance the threads, large enough to amortise the hand-off. */
const filesPerTask = 100;

/**
 * Parses and validates many files on worker threads: YAML parsing is most of
 * a full sync (≈0.3 ms per manifest), and it is pure per file, so it spreads
 * over every core. Results are the same as `validateFile` on the calling
 * thread, field positions included. For a handful of files the hand-off
 * costs more than it saves: callers parse those themselves.
 */
export class ValidationPool {
  private readonly pool: Piscina;

  constructor(options: { threads?: number } = {}) {
    const threads = options.threads ?? Math.max(1, availableParallelism());
    // Worker threads do not inherit the TypeScript loader the process runs
    // under (bin/capstan.js, vitest), so each loads tsx itself.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    this.pool = new Piscina({
      filename: new URL("./validate-worker.ts", import.meta.url).href,
      execArgv: ["--import", tsx],
      // Started at once and kept: a worker takes over a second to load, which
      // overlaps the control plane's own start-up instead of the first sync.
      minThreads: threads,
      maxThreads: threads,
    });
    // A worker loads its module on its first task: give each one an empty task now.
    this.warming = Promise.all(Array.from({ length: threads }, () => this.pool.run([]))).then(
      () => undefined,
      () => undefined,
    );
  }

  private readonly warming: Promise<void>;

  /** One result per file, in the order given. */
  async validateFiles(files: readonly SourceFile[]): Promise<ValidationResult[]> {
    const tasks: Array<Promise<WorkerFileResult[]>> = [];
    for (let start = 0; start < files.length; start += filesPerTask) {
      tasks.push(this.pool.run(files.slice(start, start + filesPerTask)) as Promise<WorkerFileResult[]>);
    }
    return (await Promise.all(tasks)).flat().map(({ objects, problems, locations }) => {
      objects.forEach((object, index) => restoreFieldLocations(object, locations[index] ?? []));
      return { objects, problems };
    });
  }

  async close(): Promise<void> {
    await this.warming;
    await this.pool.close({ force: true });
  }
}
