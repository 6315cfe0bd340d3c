import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Clock } from "../../clock.ts";
import type { DesiredStore } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { SyncObserver, SyncPassOutcome } from "../../gitsync/index.ts";
import type { Logger } from "../../logging.ts";
import type { NodeLinkObserver, NodeLinkState } from "../../nodes/index.ts";
import type { CronJobRunObserver, QueueStats, ReconcileObserver } from "../../reconcilers/index.ts";
import type { Leadership } from "../status-overview.ts";
import type { RequestObserver } from "../request-log.ts";
import { storeWithin } from "../store-deadline.ts";
import { readStoreSnapshot, type StoreSnapshot } from "./store-snapshot.ts";

export interface MetricsSources {
  /** Read at scrape time for the store-derived gauges, so that followers report them too. */
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  leadership?: () => Leadership;
  /** The leader term's controller queues; empty on a follower. */
  queues?: () => QueueStats[];
  /** The leader term's node links; empty on a follower. */
  links?: () => NodeLinkState[];
  /** How long a scrape waits for the store before reporting it down (default 2 s). */
  storeTimeoutMs?: number;
}

const syncErrorReasons: Partial<Record<SyncPassOutcome, string>> = { fetchFailed: "fetch", rejected: "rejected", applyFailed: "apply" };

/**
 * Every metric of one control plane, in a Registry of its own (never
 * prom-client's global one: tests run several control planes in a process).
 * The components report through the small observer interfaces they define
 * (SyncObserver, ReconcileObserver, CronJobRunObserver, NodeLinkObserver,
 * and the HTTP server's RequestObserver)
 * and know nothing of prom-client; the store-derived gauges are computed
 * when scraped. Labels are kinds, controllers, node, namespace and CronJob
 * names, phases and health words: nothing from Secret data, no URL.
 */
export class Metrics implements SyncObserver, ReconcileObserver, CronJobRunObserver, NodeLinkObserver, RequestObserver {
  readonly registry = new Registry();
  readonly #sources: MetricsSources;
  #snapshot: Promise<StoreSnapshot | undefined> | undefined;

  readonly #syncDuration: Histogram<"outcome">;
  readonly #syncErrors: Counter<"reason">;
  readonly #reconcileDuration: Histogram<"kind" | "controller">;
  readonly #reconcileErrors: Counter<"kind" | "controller">;
  readonly #cronJobRuns: Counter<"namespace" | "cronjob" | "outcome">;
  readonly #reconnects: Counter<"node">;
  readonly #requests: Histogram<"method" | "route" | "status">;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.#syncDuration = new Histogram({
      name: "capstan_sync_duration_seconds",
      help: "Duration of one Git sync pass (fetch, validate, apply), by outcome",
      labelNames: ["outcome"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.#syncErrors = new Counter({ name: "capstan_sync_errors_total", help: "Git sync passes that failed: fetch, rejected (a commit failed validation) or apply", labelNames: ["reason"], registers });
    for (const reason of Object.values(syncErrorReasons)) this.#syncErrors.inc({ reason }, 0);
    this.#reconcileDuration = new Histogram({
      name: "capstan_reconcile_duration_seconds",
      help: "Duration of one reconcile, by kind and controller",
      labelNames: ["kind", "controller"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#reconcileErrors = new Counter({ name: "capstan_reconcile_errors_total", help: "Reconciles that failed (retried or parked), by kind and controller", labelNames: ["kind", "controller"], registers });
    this.#cronJobRuns = new Counter({
      name: "capstan_cronjob_runs_total",
      help: "CronJob runs: Jobs created, and Jobs that succeeded or failed",
      labelNames: ["namespace", "cronjob", "outcome"],
      registers,
    });
    this.#reconnects = new Counter({ name: "capstan_ssh_reconnects_total", help: "Times a node link was dialled again after a failure or a drop", labelNames: ["node"], registers });
    this.#requests = new Histogram({
      name: "capstan_http_request_duration_seconds",
      help: "HTTP requests answered by the page, API and probes, by method, route pattern and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.#scrapeTimeGauges(registers);
  }

  passEnded(pass: { outcome: SyncPassOutcome; seconds: number }): void {
    this.#syncDuration.observe({ outcome: pass.outcome }, pass.seconds);
    const reason = syncErrorReasons[pass.outcome];
    if (reason) this.#syncErrors.inc({ reason });
  }

  reconciled(run: { kind: string; controller: string; seconds: number; failed: boolean }): void {
    const labels = { kind: run.kind, controller: run.controller };
    this.#reconcileDuration.observe(labels, run.seconds);
    if (run.failed) this.#reconcileErrors.inc(labels);
  }

  cronJobRun(run: { namespace: string; cronJob: string; outcome: "created" | "succeeded" | "failed" }): void {
    this.#cronJobRuns.inc({ namespace: run.namespace, cronjob: run.cronJob, outcome: run.outcome });
  }

  redialled(node: string, times: number): void {
    this.#reconnects.inc({ node }, times);
  }

  answered(request: { method: string; route: string; status: number; seconds: number }): void {
    this.#requests.observe({ method: request.method, route: request.route, status: String(request.status) }, request.seconds);
  }

  /** The Prometheus text exposition of every metric. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** One store read shared by every store-derived gauge of a scrape (their collects run at once). */
  #storeSnapshot(): Promise<StoreSnapshot | undefined> {
    const { store, clock, log, storeTimeoutMs } = this.#sources;
    this.#snapshot ??= storeWithin(readStoreSnapshot(store, clock.now()), storeTimeoutMs ?? 2_000)
      .catch((error: unknown) => {
        log.warn({ err: messageOf(error) }, "metrics: the store could not be read; its gauges are left out of this scrape");
        return undefined;
      })
      .finally(() => (this.#snapshot = undefined));
    return this.#snapshot;
  }

  #scrapeTimeGauges(registers: Registry[]): void {
    const sources = this.#sources;
    const snapshot = () => this.#storeSnapshot();
    const fromStore = <L extends string>(name: string, help: string, labelNames: L[], fill: (gauge: Gauge<L>, snap: StoreSnapshot) => void) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          const snap = await snapshot();
          if (snap) fill(this, snap);
        },
      });

    new Gauge({
      name: "capstan_store_up",
      help: "1 when this scrape could read the store, else 0 (the store-derived gauges are then absent)",
      registers,
      async collect() {
        this.set((await snapshot()) ? 1 : 0);
      },
    });
    fromStore("capstan_pods", "Pods in the store, by phase", ["phase"], (gauge, snap) => {
      for (const [phase, count] of snap.podsByPhase) gauge.set({ phase }, count);
    });
    fromStore("capstan_node_ready", "1 when the Node's Ready condition is True, else 0", ["node"], (gauge, snap) => {
      for (const node of snap.nodes) gauge.set({ node: node.name }, node.ready ? 1 : 0);
    });
    fromStore("capstan_workloads", "Deployments, DaemonSets and StatefulSets, by kind and health", ["kind", "health"], (gauge, snap) => {
      for (const { kind, health, count } of snap.workloads) gauge.set({ kind, health }, count);
    });
    fromStore("capstan_git_source_up", "1 when the last fetch of the Git source answered, 0 when it failed", [], (gauge, snap) => {
      if (snap.sync.up !== undefined) gauge.set(snap.sync.up);
    });
    fromStore("capstan_git_source_last_success_timestamp_seconds", "When a fetch of the Git source last answered (Unix seconds)", [], (gauge, snap) => {
      if (snap.sync.lastSuccessSeconds !== undefined) gauge.set(snap.sync.lastSuccessSeconds);
    });
    fromStore("capstan_revision_lag_seconds", "Now minus the commit time of the newest seen commit that is not live; 0 when in sync", [], (gauge, snap) => {
      gauge.set(snap.sync.lagSeconds);
    });
    fromStore("capstan_revisions_behind", "Commits seen after the live one and not live (rejected, superseded, applying), up to 50", [], (gauge, snap) => {
      gauge.set(snap.sync.behind);
    });

    new Gauge({
      name: "capstan_reconcile_queue_depth",
      help: "Keys ready to reconcile, by kind and controller (leader only)",
      labelNames: ["kind", "controller"],
      registers,
      collect() {
        this.reset();
        for (const queue of sources.queues?.() ?? []) this.set({ kind: queue.kind, controller: queue.reconciler }, queue.queued);
      },
    });
    new Gauge({
      name: "capstan_node_link_up",
      help: "1 while the control plane's link to the node's agent is connected, else 0 (leader only)",
      labelNames: ["node"],
      registers,
      collect() {
        this.reset();
        for (const link of sources.links?.() ?? []) this.set({ node: link.node }, link.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: "capstan_leader",
      help: "1 while this replica leads (runs the sync, controllers and node links), else 0",
      registers,
      collect() {
        this.set(!sources.leadership || sources.leadership().role === "leader" ? 1 : 0);
      },
    });
    new Counter({
      name: "capstan_fenced_writes_total",
      help: "Writes of this replica's past leader terms that the lease's fence refused",
      registers,
      collect() {
        // The elector keeps the running count; a counter cannot be set, so it is rebuilt from it.
        this.reset();
        this.inc(sources.leadership?.().fencedWrites ?? 0);
      },
    });
  }
}
