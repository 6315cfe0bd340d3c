/**
 * Git → Postgres sync of a generated repository of 10,000 manifests in nested
 * directories: a full sync, then a one-file commit synced incrementally, and,
 * as the reference for what reading the tree costs at all, `git ls-tree -r`
 * plus `git cat-file --batch` of the same tree. Prints one JSON line.
 *
 * Uses DATABASE_URL when set, otherwise an embedded PostgreSQL in a temp dir.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { systemClock } from "../src/clock.ts";
import { PgDesiredStore, ValidationPool } from "../src/desired/index.ts";
import { GitSync, openGitSource } from "../src/gitsync/index.ts";
import { silentLogger } from "../src/logging.ts";
import { benchDatabase, type BenchDatabase } from "./lib/database.ts";
import { commitFile, generateRepository } from "./lib/git.ts";

const manifestCount = Number(process.env.BENCH_MANIFESTS ?? 10_000);
const namespaces = ["alpha", "beta", "gamma", "delta"];

// Made first, as `capstan up` makes it before the store: its workers load while the rest starts.
const validationPool = new ValidationPool();
let database: BenchDatabase | undefined;
try {
  database = await benchDatabase("sync");
  const repo = join(database.work, "repo");
  await generateRepository(repo, manifests());
  const store = new PgDesiredStore(database.pool);
  const source = openGitSource({ url: repo, branch: "main", path: "", cacheDir: join(database.work, "cache") });
  const sync = new GitSync({
    validationPool,
    source,
    store,
    clock: systemClock,
    log: silentLogger,
    describe: { url: repo, branch: "main", path: "" },
    pollIntervalMs: 60_000,
  });

  let started = performance.now();
  const full = await sync.syncOnce();
  const fullSyncMs = performance.now() - started;
  if (full.result !== "applied" || full.created !== manifestCount) throw new Error(`full sync: ${JSON.stringify(full).slice(0, 500)}`);

  const incrementalMs: number[] = [];
  for (let round = 1; round <= 5; round++) {
    await commitFile(repo, manifestFile(3), configMap(namespaces[3 % namespaces.length]!, "config-3", `round-${round}`), `change one file (${round})`);
    started = performance.now();
    const incremental = await sync.syncOnce();
    incrementalMs.push(performance.now() - started);
    if (incremental.result !== "applied" || incremental.updated !== 1) throw new Error(`incremental sync: ${JSON.stringify(incremental)}`);
  }

  started = performance.now();
  const listing = execFileSync("git", ["-C", repo, "ls-tree", "-r", "--object-only", "HEAD"], { maxBuffer: 1 << 28 });
  spawnSync("git", ["-C", repo, "cat-file", "--batch"], { input: listing, maxBuffer: 1 << 30 });
  const gitReadReferenceMs = performance.now() - started;

  const sorted = [...incrementalMs].sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      bench: "sync",
      manifests: manifestCount,
      fullSyncMs: Math.round(fullSyncMs),
      incrementalSyncMedianMs: round1(sorted[Math.floor(sorted.length / 2)]!),
      incrementalSyncMaxMs: round1(sorted.at(-1)!),
      gitReadReferenceMs: Math.round(gitReadReferenceMs),
      goals: { fullSyncMs: 3000, incrementalSyncMs: 100 },
    })}\n`,
  );
} finally {
  await validationPool.close();
  await database?.close();
}

/** namespaces.yaml holds 4 objects; the rest are one manifest per file, 25 files per directory. */
function* manifests(): Generator<[string, string]> {
  yield ["namespaces.yaml", namespaces.map((name) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`).join("---\n")];
  for (let index = 0; index < manifestCount - namespaces.length; index++) {
    const namespace = namespaces[index % namespaces.length]!;
    yield [manifestFile(index), index % 5 === 0 ? deployment(namespace, `app-${index}`) : configMap(namespace, `config-${index}`, "initial")];
  }
}

/** Where manifest number `index` lives: 25 files per directory, nested by namespace, team and app. */
function manifestFile(index: number): string {
  const namespace = namespaces[index % namespaces.length]!;
  const name = index % 5 === 0 ? `app-${index}` : `config-${index}`;
  return join(`ns-${namespace}`, `team-${Math.floor(index / 400) % 25}`, `app-${Math.floor(index / 25)}`, `${name}.yaml`);
}

function configMap(namespace: string, name: string, value: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app.kubernetes.io/part-of: bench
data:
  value: "${value}"
  settings.json: |
    {"retries": 3, "timeoutMs": 2500, "feature": true}
`;
}

function deployment(namespace: string, name: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: 2
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: web
          command: ["node", "server.js"]
          ports: [{ name: http, containerPort: 8080 }]
          resources: { requests: { cpu: 100m, memory: 64Mi } }
          readinessProbe: { httpGet: { path: /healthz, port: http } }
`;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
