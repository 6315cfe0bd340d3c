import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MemoryDesiredStore, type DesiredObject, type NewEvent, type ObjectKey } from "../../src/desired/index.ts";
import { CapstanError } from "../../src/errors.ts";
import { ControllerManager, type ControllerOptions } from "../../src/reconcilers/controller.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

class FlakyError extends CapstanError {
  readonly code = "Flaky";
  override readonly transient = true;
}

class BrokenError extends CapstanError {
  readonly code = "Broken";
}

interface Call {
  key: ObjectKey;
  at: number;
}

/** A reconciler whose behaviour is a function of the key and the call number (1-based, per reconciler). */
class FakeReconciler implements Reconciler {
  readonly calls: Call[] = [];
  running = 0;
  maxRunning = 0;
  readonly keysFor?: Reconciler["keysFor"];

  constructor(
    readonly kind: string,
    readonly name: string,
    private readonly clock: ManualClock,
    private readonly behaviour: (key: ObjectKey, call: number, ctx: ReconcileContext) => Promise<ReconcileResult> | ReconcileResult = () => ({}),
    keysFor?: Reconciler["keysFor"],
  ) {
    if (keysFor) this.keysFor = keysFor;
  }

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    this.calls.push({ key, at: this.clock.now().getTime() });
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      return await this.behaviour(key, this.calls.length, ctx);
    } finally {
      this.running -= 1;
    }
  }

  names(): string[] {
    return this.calls.map((call) => call.key.name);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Lets every pending continuation (reconciles, timers that came due) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

function captureLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level: "debug" }, destination), lines };
}

function desired(kind: string, namespace: string, name: string, spec: Record<string, unknown> = {}): DesiredObject {
  return { apiVersion: "v1", kind, namespace, name, labels: {}, annotations: {}, spec, source: { file: "all.yaml", line: 1, column: 1 } };
}

let commits = 0;
async function apply(store: MemoryDesiredStore, objects: DesiredObject[]): Promise<void> {
  commits += 1;
  await store.applyRevision(
    { sha: `c${commits}`, parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: new Date() },
    objects,
    [],
  );
}

function change(kind: string, namespace: string, name: string, extra: Partial<ObjectChange> = {}): ObjectChange {
  return { kind, namespace, name, uid: "u-1", resourceVersion: 1, op: "UPDATE", deleted: false, statusOnly: false, ...extra };
}

const key = (kind: string, namespace: string, name: string): ObjectKey => ({ kind, namespace, name });

let manager: ControllerManager | undefined;
let clock: ManualClock;
let store: MemoryDesiredStore;

function setup(options: Partial<ControllerOptions> & Pick<ControllerOptions, "reconcilers">): ControllerManager {
  manager = new ControllerManager({
    store,
    clock,
    log: pino({ level: "silent" }),
    resyncIntervalMs: 3_600_000,
    backoff: { initialMs: 100, maxMs: 1_000, jitter: 0 },
    ...options,
  });
  return manager;
}

describe("ControllerManager", () => {
  beforeEach(() => {
    clock = new ManualClock();
    store = new MemoryDesiredStore();
  });

  afterEach(async () => {
    // A failed test may leave a reconcile hanging: let stop's bound run out on the manual clock.
    const stopping = manager?.stop();
    await clock.advance(60_000);
    await stopping;
    manager = undefined;
  });

  describe("queueing", () => {
    it("runs a key once however often it was enqueued, and again when enqueued after its run", async () => {
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock);
      const controllers = setup({ reconcilers: [deployments] });
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      controllers.notify(change("Deployment", "shop", "web"));
      controllers.enqueue("Deployment", key("Deployment", "shop", "api"));
      controllers.enqueue("Deployment", key("Deployment", "shop", "api"));
      expect(controllers.stats()).toEqual([
        { kind: "Deployment", reconciler: "deployment-controller", queued: 2, processing: 0, waiting: 0, failures: 0 },
      ]);
      await controllers.start();
      await settle();
      expect(deployments.names()).toEqual(["web", "api"]);

      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      expect(deployments.names()).toEqual(["web", "api", "web"]);
    });

    it("never runs one key twice at once: enqueues during a run make exactly one more run after it", async () => {
      const gate = deferred();
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, async (_key, call) => {
        if (call === 1) await gate.promise;
        return {};
      });
      const controllers = setup({ reconcilers: [deployments], concurrency: 4 });
      await controllers.start();
      const web = key("Deployment", "shop", "web");
      controllers.enqueue("Deployment", web);
      await settle();
      expect(deployments.calls).toHaveLength(1);

      controllers.enqueue("Deployment", web);
      controllers.notify(change("Deployment", "shop", "web"));
      controllers.enqueue("Deployment", web);
      await settle();
      expect(deployments.calls).toHaveLength(1);
      expect(controllers.stats()[0]).toMatchObject({ queued: 0, processing: 1 });

      gate.resolve();
      await settle();
      expect(deployments.calls).toHaveLength(2);
      expect(deployments.maxRunning).toBe(1);
      await settle();
      expect(deployments.calls).toHaveLength(2);
    });

    it("runs at most `concurrency` reconciles at once, across reconcilers", async () => {
      const gates = new Map<string, () => void>();
      let running = 0;
      let maxRunning = 0;
      const blocking = async (key: ObjectKey): Promise<ReconcileResult> => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((resolve) => gates.set(`${key.kind}/${key.name}`, resolve));
        running -= 1;
        return {};
      };
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, blocking);
      const services = new FakeReconciler("Service", "service-controller", clock, blocking);
      const controllers = setup({ reconcilers: [deployments, services], concurrency: 3 });
      await controllers.start();
      for (const name of ["a", "b", "c", "d"]) {
        controllers.enqueue("Deployment", key("Deployment", "shop", name));
        controllers.enqueue("Service", key("Service", "shop", name));
      }
      await settle();
      expect(running).toBe(3);

      while (deployments.calls.length + services.calls.length < 8 || running > 0) {
        const [first] = gates;
        expect(first).toBeDefined();
        gates.delete(first![0]);
        first![1]();
        await settle();
        expect(running).toBeLessThanOrEqual(3);
      }
      expect(maxRunning).toBe(3);
      expect(deployments.names().sort()).toEqual(["a", "b", "c", "d"]);
      expect(services.names().sort()).toEqual(["a", "b", "c", "d"]);
    });

    it("keeps the bound when a reconcile enqueues synchronously as it starts", async () => {
      let controllers: ControllerManager;
      const gates: (() => void)[] = [];
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, (key) => {
        if (key.name === "a") controllers.enqueue("Deployment", { ...key, name: "b" });
        return new Promise<ReconcileResult>((resolve) => gates.push(() => resolve({})));
      });
      controllers = setup({ reconcilers: [deployments], concurrency: 1 });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "a"));
      await settle();
      expect(deployments.names()).toEqual(["a"]);
      gates.shift()!();
      await settle();
      expect(deployments.names()).toEqual(["a", "b"]);
      expect(deployments.maxRunning).toBe(1);
    });

    it("takes keys round-robin across reconcilers, so a busy kind does not starve another", async () => {
      const order: string[] = [];
      const record = (key: ObjectKey): ReconcileResult => {
        order.push(`${key.kind}/${key.name}`);
        return {};
      };
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, record);
      const services = new FakeReconciler("Service", "service-controller", clock, record);
      const controllers = setup({ reconcilers: [deployments, services], concurrency: 1 });
      for (const name of ["d1", "d2", "d3", "d4"]) controllers.enqueue("Deployment", key("Deployment", "shop", name));
      controllers.enqueue("Service", key("Service", "shop", "s1"));
      await controllers.start();
      await settle();
      expect(order).toEqual(["Deployment/d1", "Service/s1", "Deployment/d2", "Deployment/d3", "Deployment/d4"]);
    });

    it("keeps the earlier of two delayed enqueues, and an immediate one supersedes a delayed one", async () => {
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock);
      const controllers = setup({ reconcilers: [deployments] });
      await controllers.start();
      const start = clock.now().getTime();
      const web = key("Deployment", "shop", "web");
      controllers.enqueue("Deployment", web, 300);
      controllers.enqueue("Deployment", web, 100);
      controllers.enqueue("Deployment", web, 500);
      expect(controllers.stats()[0]).toMatchObject({ queued: 0, waiting: 1 });
      await clock.advance(1_000);
      expect(deployments.calls.map((call) => call.at - start)).toEqual([100]);

      controllers.enqueue("Deployment", web, 300);
      controllers.enqueue("Deployment", web);
      await settle();
      expect(deployments.calls.map((call) => call.at - start)).toEqual([100, 1_000]);
      await clock.advance(1_000);
      expect(deployments.calls).toHaveLength(2);
    });
  });

  describe("retries", () => {
    it("retries a transient error with doubling delays up to the maximum", async () => {
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, () => {
        throw new FlakyError("store hiccup");
      });
      const controllers = setup({ reconcilers: [deployments] });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      expect(deployments.calls).toHaveLength(1);
      expect(controllers.stats()[0]).toMatchObject({ waiting: 1, failures: 1 });

      for (const gap of [100, 200, 400, 800, 1_000, 1_000]) {
        const before = deployments.calls.length;
        await clock.advance(gap - 1);
        expect(deployments.calls).toHaveLength(before);
        await clock.advance(1);
        expect(deployments.calls).toHaveLength(before + 1);
      }
      const gaps = deployments.calls.slice(1).map((call, index) => call.at - deployments.calls[index]!.at);
      expect(gaps).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    });

    it("treats an error that is not a CapstanError as transient and logs its stack", async () => {
      const { log, lines } = captureLog();
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, (_key, call) => {
        if (call === 1) throw new TypeError("cannot read properties of undefined");
        return {};
      });
      const controllers = setup({ reconcilers: [deployments], log });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      await clock.advance(100);
      expect(deployments.calls).toHaveLength(2);
      const failure = lines.find((line) => line.msg === "reconcile failed unexpectedly; retrying");
      expect(failure).toMatchObject({ reconciler: "deployment-controller", name: "web", attempt: 1, retryInMs: 100 });
      expect((failure?.err as { stack?: string }).stack).toContain("TypeError: cannot read properties of undefined");
      expect(controllers.stats()[0]).toMatchObject({ failures: 0, waiting: 0 });
    });

    it("forgets the back-off after a success", async () => {
      const outcomes = ["fail", "fail", "fail", "ok", "fail", "ok"];
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, (_key, call) => {
        if (outcomes[call - 1] === "fail") throw new FlakyError(`attempt ${call}`);
        return {};
      });
      const controllers = setup({ reconcilers: [deployments] });
      await controllers.start();
      const web = key("Deployment", "shop", "web");
      controllers.enqueue("Deployment", web);
      await settle();
      await clock.advance(100 + 200 + 400);
      expect(deployments.calls).toHaveLength(4);
      expect(controllers.stats()[0]).toMatchObject({ failures: 0, waiting: 0 });

      await clock.advance(5_000);
      controllers.enqueue("Deployment", web);
      await settle();
      expect(deployments.calls).toHaveLength(5);
      await clock.advance(100);
      expect(deployments.calls).toHaveLength(6);
      expect(deployments.calls[5]!.at - deployments.calls[4]!.at).toBe(100);
    });

    it("records a terminal error as a Warning event and does not retry it, not even on resync", async () => {
      await apply(store, [desired("Deployment", "shop", "web", { replicas: 1 })]);
      const uid = (await store.getObject(key("Deployment", "shop", "web")))!.uid;
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, () => {
        throw new BrokenError("spec.template names a ConfigMap that does not exist");
      });
      const controllers = setup({ reconcilers: [deployments], resyncIntervalMs: 1_000 });
      await controllers.start();
      await settle();
      expect(deployments.calls).toHaveLength(1);
      const at = clock.now();
      expect(await store.listEvents()).toEqual([
        expect.objectContaining({
          objectUid: uid,
          kind: "Deployment",
          namespace: "shop",
          name: "web",
          type: "Warning",
          reason: "ReconcileError",
          message: "spec.template names a ConfigMap that does not exist",
          source: "deployment-controller",
          count: 1,
          firstTime: at,
          lastTime: at,
        }),
      ]);

      await clock.advance(10_000);
      expect(deployments.calls).toHaveLength(1);
      expect(controllers.stats()[0]).toMatchObject({ failures: 1, queued: 0, waiting: 0 });
    });

    it("retries a terminally failed key on the next change to it, or on a resync that finds it changed", async () => {
      await apply(store, [desired("Deployment", "shop", "web", { replicas: 1 })]);
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, () => {
        throw new BrokenError("impossible");
      });
      const controllers = setup({ reconcilers: [deployments], resyncIntervalMs: 1_000 });
      await controllers.start();
      await settle();
      expect(deployments.calls).toHaveLength(1);

      controllers.notify(change("Deployment", "shop", "web"));
      await settle();
      expect(deployments.calls).toHaveLength(2);
      expect((await store.listEvents()).map((event) => [event.reason, event.count])).toEqual([["ReconcileError", 2]]);
      await clock.advance(5_000);
      expect(deployments.calls).toHaveLength(2);

      // Changed while its notification was lost: the resync notices the new resource version.
      await apply(store, [desired("Deployment", "shop", "web", { replicas: 2 })]);
      await clock.advance(1_000);
      expect(deployments.calls).toHaveLength(3);
      await clock.advance(5_000);
      expect(deployments.calls).toHaveLength(3);
    });

    it("looks again after requeueAfterMs, unless an earlier enqueue came first", async () => {
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, (key, call) =>
        key.name === "web" && call === 1 ? { requeueAfterMs: 5_000 } : key.name === "api" ? { requeueAfterMs: 5_000 } : {},
      );
      const controllers = setup({ reconcilers: [deployments] });
      await controllers.start();
      const start = clock.now().getTime();
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      await clock.advance(4_999);
      expect(deployments.calls).toHaveLength(1);
      await clock.advance(1);
      expect(deployments.calls.map((call) => call.at - start)).toEqual([0, 5_000]);
      await clock.advance(20_000);
      expect(deployments.calls).toHaveLength(2);

      // api always asks to be looked at after 5 s; a change at 1 s runs it at once and restarts the wait.
      const apiStart = clock.now().getTime();
      controllers.enqueue("Deployment", key("Deployment", "shop", "api"));
      await settle();
      await clock.advance(1_000);
      controllers.notify(change("Deployment", "shop", "api"));
      await settle();
      await clock.advance(5_500);
      const apiCalls = deployments.calls.filter((call) => call.key.name === "api").map((call) => call.at - apiStart);
      expect(apiCalls).toEqual([0, 1_000, 6_000]);
    });

    it("gives a reconciler with its own clock that clock, for its decisions and its requeue timers, and the others the manager's", async () => {
      const cronClock = new ManualClock(Date.parse("2030-06-01T00:00:00Z"));
      const seen: Record<string, number[]> = { CronJob: [], Deployment: [] };
      const record = (ctx: ReconcileContext, kind: string) => void seen[kind]!.push(ctx.clock.now().getTime());
      const cronJobs: Reconciler = {
        kind: "CronJob",
        name: "cronjob-controller",
        ownClock: cronClock,
        reconcile: async (ctx) => (record(ctx, "CronJob"), { requeueAfterMs: 60_000 }),
      };
      const deployments: Reconciler = { kind: "Deployment", name: "deployment-controller", reconcile: async (ctx) => (record(ctx, "Deployment"), {}) };
      const controllers = setup({ reconcilers: [cronJobs, deployments], resyncIntervalMs: 0 });
      await controllers.start();
      controllers.enqueue("CronJob", key("CronJob", "ops", "backup"));
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      expect(seen).toEqual({ CronJob: [cronClock.now().getTime()], Deployment: [clock.now().getTime()] });
      // The manager's clock moving does not wake the CronJob; its own does.
      await clock.advance(120_000);
      expect(seen.CronJob).toHaveLength(1);
      await cronClock.advance(60_000);
      await settle();
      expect(seen.CronJob).toEqual([Date.parse("2030-06-01T00:00:00Z"), Date.parse("2030-06-01T00:01:00Z")]);
    });

    it("waits at most a Node timer's limit (about 24.8 days) for a longer requeueAfterMs, instead of overflowing to at once", async () => {
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, () => ({ requeueAfterMs: 40 * 86_400_000 }));
      const controllers = setup({ reconcilers: [deployments], resyncIntervalMs: 0 });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "cron"));
      await settle();
      await clock.advance(2_147_483_646);
      expect(deployments.calls).toHaveLength(1);
      await clock.advance(1);
      expect(deployments.calls).toHaveLength(2);
    });

    it("leaves a key in back-off to its scheduled retry when a resync comes first", async () => {
      await apply(store, [desired("Deployment", "shop", "web")]);
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, () => {
        throw new FlakyError("node unreachable");
      });
      const controllers = setup({ reconcilers: [deployments], resyncIntervalMs: 1_000, backoff: { initialMs: 5_000, maxMs: 60_000, jitter: 0 } });
      await controllers.start();
      await settle();
      await clock.advance(4_999);
      expect(deployments.calls).toHaveLength(1);
      await clock.advance(1);
      expect(deployments.calls).toHaveLength(2);
    });
  });

  describe("resync and routing", () => {
    it("enqueues every live object of each reconciler's kind at start and at every resync", async () => {
      await apply(store, [
        desired("Deployment", "shop", "web"),
        desired("Deployment", "shop", "api"),
        desired("Deployment", "blog", "web"),
        desired("ConfigMap", "shop", "web"),
      ]);
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock);
      const controllers = setup({ reconcilers: [deployments], resyncIntervalMs: 30_000 });
      await controllers.start();
      await settle();
      const keys = () => deployments.calls.map((call) => `${call.key.namespace}/${call.key.name}`);
      expect(keys().sort()).toEqual(["blog/web", "shop/api", "shop/web"]);
      expect(deployments.calls.every((call) => call.key.kind === "Deployment")).toBe(true);

      await clock.advance(29_999);
      expect(deployments.calls).toHaveLength(3);
      await clock.advance(1);
      expect(keys().slice(3).sort()).toEqual(["blog/web", "shop/api", "shop/web"]);
    });

    it("a listing's reconciles read their own object from it, once, unless the key changed during the listing or since", async () => {
      await apply(store, [desired("Deployment", "shop", "api"), desired("Deployment", "shop", "db"), desired("Deployment", "shop", "web")]);
      const reads: string[] = [];
      const get = store.getObject.bind(store);
      store.getObject = async (read) => {
        reads.push(read.name);
        return get(read);
      };
      const list = store.listObjects.bind(store);
      let controllers: ControllerManager | undefined;
      store.listObjects = async (filter) => {
        const listed = await list(filter);
        // A change that lands while the listing is under way: what it returned for api may predate it.
        controllers!.notify(change("Deployment", "shop", "api"));
        return listed;
      };
      const seen: Record<string, (string | undefined)[]> = {};
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, async (read, _call, ctx) => {
        (seen[read.name] ??= []).push((await ctx.store.getObject(read))?.name);
        return {};
      });
      controllers = setup({ reconcilers: [deployments], concurrency: 1 });
      await controllers.start();
      // Changed after the listing, before its reconcile ran (one at a time: api runs first).
      controllers.notify(change("Deployment", "shop", "web"));
      await settle();
      expect(seen).toEqual({ api: ["api"], db: ["db"], web: ["web"] });
      expect(reads.sort()).toEqual(["api", "web"]);

      // Used once: the next run of db reads the store.
      controllers.enqueue("Deployment", key("Deployment", "shop", "db"));
      await settle();
      expect(reads.sort()).toEqual(["api", "db", "web"]);
    });

    it("reconcilers routing one change share its reads (the owner read once, not once per reconciler); the next change reads again", async () => {
      await apply(store, [desired("ReplicaSet", "shop", "web")]);
      const owner = (await store.getObject(key("ReplicaSet", "shop", "web")))!;
      let reads = 0;
      const byUid = store.getObjectByUid.bind(store);
      store.getObjectByUid = async (uid) => {
        reads++;
        return byUid(uid);
      };
      const ownerKey = async (routed: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> => {
        const found = routed.ownerUid ? await ctx.store.getObjectByUid(routed.ownerUid) : null;
        return found ? [key("ReplicaSet", found.namespace, found.name)] : [];
      };
      const first = new FakeReconciler("ReplicaSet", "first", clock, () => ({}), ownerKey);
      const second = new FakeReconciler("ReplicaSet", "second", clock, () => ({}), ownerKey);
      const controllers = setup({ reconcilers: [first, second] });
      await controllers.start();
      controllers.notify(change("Pod", "shop", "web-1", { ownerUid: owner.uid }));
      await settle();
      expect(reads).toBe(1);
      expect(first.names()).toEqual(["web", "web"]);
      expect(second.names()).toEqual(["web", "web"]);
      controllers.notify(change("Pod", "shop", "web-2", { ownerUid: owner.uid }));
      await settle();
      expect(reads).toBe(2);
    });

    it("start() rejects when the first listing fails, keeps what was enqueued, and can be called again", async () => {
      await apply(store, [desired("Deployment", "shop", "web")]);
      const list = store.listObjects.bind(store);
      let failures = 1;
      store.listObjects = async (filter) => {
        if (failures-- > 0) throw new Error("connection refused");
        return list(filter);
      };
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock);
      const controllers = setup({ reconcilers: [deployments] });
      controllers.enqueue("Deployment", key("Deployment", "shop", "api"));
      await expect(controllers.start()).rejects.toThrow("connection refused");
      await settle();
      expect(deployments.calls).toEqual([]);

      await controllers.start();
      await settle();
      expect(deployments.names()).toEqual(["api", "web"]);
      await expect(controllers.start()).rejects.toThrow("already started");
    });

    it("routes a change through keysFor: Pod changes reach their owner ReplicaSet, and kinds without keysFor get their own keys", async () => {
      const gate = deferred();
      const replicaSets = new FakeReconciler(
        "ReplicaSet",
        "replicaset-controller",
        clock,
        async (key) => {
          if (key.name === "web" && replicaSets.names().filter((name) => name === "web").length === 1) await gate.promise;
          return {};
        },
        async (change, ctx) => {
          if (change.kind === "ReplicaSet") return [key("ReplicaSet", change.namespace, change.name)];
          if (change.kind !== "Pod" || !change.ownerUid) return [];
          // Reads the store, as a real owner lookup does.
          const owner = (await ctx.store.listObjects({ kind: "ReplicaSet" })).find((object) => object.uid === change.ownerUid);
          return owner ? [key("ReplicaSet", owner.namespace, owner.name)] : [];
        },
      );
      const pods = new FakeReconciler("Pod", "pod-controller", clock);
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock);
      await apply(store, [desired("ReplicaSet", "shop", "web"), desired("ReplicaSet", "shop", "api")]);
      const web = (await store.getObject(key("ReplicaSet", "shop", "web")))!;
      const controllers = setup({ reconcilers: [replicaSets, pods, deployments] });
      await controllers.start();
      await settle();
      expect(replicaSets.names()).toEqual(["api", "web"]);
      expect(replicaSets.running).toBe(1);

      // Three pods of web change while web is being reconciled: one more run after it, not three.
      for (const pod of ["web-7f9c", "web-a1b2", "web-x0y1"]) controllers.notify(change("Pod", "shop", pod, { ownerUid: web.uid }));
      controllers.notify(change("Pod", "shop", "orphan", { ownerUid: null }));
      await settle();
      expect(pods.names().sort()).toEqual(["orphan", "web-7f9c", "web-a1b2", "web-x0y1"]);
      expect(deployments.calls).toEqual([]);
      gate.resolve();
      await settle();
      expect(replicaSets.names()).toEqual(["api", "web", "web"]);

      controllers.notify(change("ReplicaSet", "shop", "gone", { op: "DELETE", deleted: true }));
      await settle();
      expect(replicaSets.calls.map((call) => call.key).at(-1)).toEqual(key("ReplicaSet", "shop", "gone"));
    });

    it("logs a keysFor that throws or rejects and still routes the change to the other reconcilers", async () => {
      const { log, lines } = captureLog();
      const throwing = new FakeReconciler("ReplicaSet", "replicaset-controller", clock, undefined, () => {
        throw new Error("owner lookup exploded");
      });
      const rejecting = new FakeReconciler("Job", "job-controller", clock, undefined, async () => {
        throw new Error("store down");
      });
      const pods = new FakeReconciler("Pod", "pod-controller", clock);
      const controllers = setup({ reconcilers: [throwing, rejecting, pods], log });
      await controllers.start();
      expect(() => controllers.notify(change("Pod", "shop", "web-7f9c"))).not.toThrow();
      await settle();
      expect(pods.names()).toEqual(["web-7f9c"]);
      expect(throwing.calls).toEqual([]);
      expect(rejecting.calls).toEqual([]);
      const failures = lines.filter((line) => line.msg === "keysFor failed; the change is not routed to this reconciler");
      expect(failures.map((line) => line.reconciler).sort()).toEqual(["job-controller", "replicaset-controller"]);
    });

    it("notifyRaw routes a NOTIFY payload and logs malformed ones without throwing", async () => {
      const { log, lines } = captureLog();
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock);
      const controllers = setup({ reconcilers: [deployments], log });
      await controllers.start();
      for (const garbage of ["", "not json", "null", "{}", '{"kind":"Deployment","name":"web"}', "[1,2]", '{"kind":"Deployment","namespace":"shop","name":"web","uid":"u","resourceVersion":"7","op":"UPDATE","deleted":false,"statusOnly":false}']) {
        expect(() => controllers.notifyRaw(garbage)).not.toThrow();
      }
      await settle();
      expect(deployments.calls).toEqual([]);
      expect(lines.filter((line) => line.msg === "malformed object notification ignored")).toHaveLength(7);

      controllers.notifyRaw(JSON.stringify(change("Deployment", "shop", "web", { resourceVersion: 7 })));
      await settle();
      expect(deployments.calls.map((call) => call.key)).toEqual([key("Deployment", "shop", "web")]);
    });
  });

  describe("events and shutdown", () => {
    it("ctx.event records with the reconciler's name and the clock's time, and a failed write is logged, never thrown", async () => {
      const { log, lines } = captureLog();
      let failWrites = false;
      const recorded: NewEvent[] = [];
      store = Object.assign(new MemoryDesiredStore(), {
        async recordEvent(event: NewEvent): Promise<void> {
          if (failWrites) throw new Error("connection reset");
          recorded.push(event);
        },
      });
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, async (key, call, ctx) => {
        await ctx.event({ ...key, uid: "u-9" }, { type: "Normal", reason: "ScalingReplicaSet", message: `call ${call}` });
        if (call === 2) throw new BrokenError("bad spec");
        return {};
      });
      const controllers = setup({ reconcilers: [deployments], log });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      expect(recorded).toEqual([
        {
          objectUid: "u-9",
          kind: "Deployment",
          namespace: "shop",
          name: "web",
          type: "Normal",
          reason: "ScalingReplicaSet",
          message: "call 1",
          source: "deployment-controller",
          at: clock.now(),
        },
      ]);

      failWrites = true;
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      await settle();
      expect(deployments.calls).toHaveLength(2);
      expect(lines.filter((line) => line.msg === "could not record an event").map((line) => line.reason)).toEqual([
        "ScalingReplicaSet",
        "ReconcileError",
      ]);
      expect(controllers.stats()[0]).toMatchObject({ failures: 1, processing: 0 });
    });

    it("stop() waits for the reconcile in flight, then nothing runs and no timer is left", async () => {
      const gate = deferred();
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, async (key) => {
        if (key.name === "web") await gate.promise;
        return { requeueAfterMs: 1_000 };
      });
      const controllers = setup({ reconcilers: [deployments], concurrency: 1, resyncIntervalMs: 10_000 });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "web"));
      controllers.enqueue("Deployment", key("Deployment", "shop", "api"));
      controllers.enqueue("Deployment", key("Deployment", "shop", "db"), 500);
      await settle();
      expect(deployments.names()).toEqual(["web"]);

      let stopped = false;
      const stopping = controllers.stop().then(() => (stopped = true));
      await settle();
      expect(stopped).toBe(false);
      controllers.enqueue("Deployment", key("Deployment", "shop", "late"));
      gate.resolve();
      await stopping;
      expect(deployments.names()).toEqual(["web"]);
      expect(clock.pending).toBe(0);

      await clock.advance(60_000);
      controllers.enqueue("Deployment", key("Deployment", "shop", "later"));
      controllers.notify(change("Deployment", "shop", "web"));
      await settle();
      expect(deployments.names()).toEqual(["web"]);
      await controllers.stop();
    });

    it("stop() gives up on a reconcile that does not end within stopTimeoutMs", async () => {
      const { log, lines } = captureLog();
      const deployments = new FakeReconciler("Deployment", "deployment-controller", clock, () => new Promise<ReconcileResult>(() => {}));
      const controllers = setup({ reconcilers: [deployments], log, stopTimeoutMs: 10_000 });
      await controllers.start();
      controllers.enqueue("Deployment", key("Deployment", "shop", "stuck"));
      await settle();

      let stopped = false;
      void controllers.stop().then(() => (stopped = true));
      await clock.advance(9_999);
      expect(stopped).toBe(false);
      await clock.advance(1);
      expect(stopped).toBe(true);
      expect(lines.some((line) => line.msg === "stopped with reconciles still running")).toBe(true);
    });
  });
});
