import { describe, expect, it } from "vitest";
import { deploymentKind, type DeploymentSpec, type ReplicaSetSpec, type StoredObject } from "../../src/desired/index.ts";
import {
  type DeploymentAction,
  type DeploymentPlan,
  planDeployment,
  resolveFenceposts,
  revisionAnnotation,
} from "../../src/reconcilers/deployment-plan.ts";
import { worse, worst } from "../../src/reconcilers/health.ts";
import { podTemplateHash, replicaSetName } from "../../src/reconcilers/pod-template-hash.ts";
import { planReplicaSet } from "../../src/reconcilers/replicaset-plan.ts";
import { storedObject } from "../helpers/stored-object.ts";

const t0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);

// ---------------------------------------------------------------- fixtures

function stored(fields: Partial<StoredObject> & Pick<StoredObject, "kind" | "name">): StoredObject {
  return storedObject({ apiVersion: "apps/v1", createdAt: at(0), ...fields });
}

interface SpecOptions {
  version?: string;
  replicas?: number;
  strategy?: Record<string, unknown>;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  paused?: boolean;
}

/** A Deployment spec as validation stores it (defaults applied); `version` is what a commit changes. */
function deploymentSpec(options: SpecOptions = {}): DeploymentSpec {
  const { version = "v1", ...rest } = options;
  const manifest = deploymentKind.schema.parse({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "web", command: ["/srv/web"], args: [`--version=${version}`] }] },
      },
      ...rest,
    },
  });
  return deploymentKind.specOf(manifest) as DeploymentSpec;
}

function deployment(spec: DeploymentSpec, status: Record<string, unknown> = {}, generation = 1): StoredObject {
  return stored({ kind: "Deployment", name: "web", uid: "uid-deployment", spec, status, generation, source: "git" });
}

/** A ReplicaSet as the Deployment made it for `version`'s template. */
function ownedReplicaSet(options: { version: string; revision: number; replicas: number; created?: number; minReadySeconds?: number }): StoredObject {
  const template = deploymentSpec({ version: options.version }).template;
  const hash = podTemplateHash(template);
  const labels = { ...template.metadata.labels, "pod-template-hash": hash };
  const name = replicaSetName("web", hash);
  const spec: ReplicaSetSpec = {
    replicas: options.replicas,
    minReadySeconds: options.minReadySeconds ?? 0,
    selector: { matchLabels: { app: "web", "pod-template-hash": hash } },
    template: { ...template, metadata: { ...template.metadata, labels } },
  };
  return stored({
    kind: "ReplicaSet",
    name,
    labels,
    annotations: { [revisionAnnotation]: String(options.revision) },
    spec,
    status: { observedGeneration: 1 },
    ownerUid: "uid-deployment",
    createdAt: at(options.created ?? options.revision),
  });
}

interface PodState {
  ready?: boolean;
  /** Seconds after t0 when it turned ready. */
  readyAt?: number;
  phase?: "Pending" | "Running" | "Succeeded" | "Failed";
  deleting?: boolean;
}

function podOf(rs: StoredObject, name: string, state: PodState = {}, created = 0): StoredObject {
  const ready = state.ready ?? false;
  const phase = state.phase ?? (ready ? "Running" : "Pending");
  return stored({
    kind: "Pod",
    apiVersion: "v1",
    name,
    ownerUid: rs.uid,
    labels: (rs.spec as ReplicaSetSpec).template.metadata.labels,
    spec: { nodeName: "n1" },
    status: {
      phase,
      ready,
      startTime: at(created).toISOString(),
      conditions: [
        { type: "Ready", status: ready ? "True" : "False", ...(ready ? { lastTransitionTime: at(state.readyAt ?? created).toISOString() } : {}) },
      ],
      containerStatuses: [{ name: "web", restartCount: 0, ready }],
    },
    createdAt: at(created),
    deletedAt: state.deleting ? at(created) : null,
  });
}

function podsOf(rs: StoredObject, count: number, state: PodState = {}): StoredObject[] {
  return Array.from({ length: count }, (_, index) => podOf(rs, `${rs.name}-p${index}`, state));
}

const ready: PodState = { ready: true, readyAt: 0 };

/** A Progressing condition as a previous pass wrote it. */
function progressing(reason: string, status: "True" | "False" | "Unknown", lastUpdate: number) {
  return {
    type: "Progressing",
    status,
    reason,
    message: "",
    lastUpdateTime: at(lastUpdate).toISOString(),
    lastTransitionTime: at(lastUpdate).toISOString(),
  };
}

const actionTypes = (plan: DeploymentPlan) => plan.actions.map((action) => action.type);
const progressingOf = (plan: DeploymentPlan) => plan.status.conditions.find((condition) => condition.type === "Progressing");
const availableOf = (plan: DeploymentPlan) => plan.status.conditions.find((condition) => condition.type === "Available");

// ---------------------------------------------------------------- a fake world the plans act on

/**
 * The Deployment and ReplicaSet plans applied to an in-memory world, as the
 * reconcilers' thin apply steps would: ReplicaSets and pods appear and vanish
 * at once, and pods turn ready only when the test says so.
 */
class World {
  now = at(1000);
  replicaSets: StoredObject[] = [];
  pods: StoredObject[] = [];
  #podCount = 0;

  constructor(public deployment: StoredObject) {}

  reconcileDeployment(): DeploymentPlan {
    const plan = planDeployment({ deployment: this.deployment, replicaSets: this.replicaSets, pods: this.pods, now: this.now });
    for (const action of plan.actions) this.apply(action);
    this.deployment = { ...this.deployment, status: plan.status };
    return plan;
  }

  apply(action: DeploymentAction): void {
    switch (action.type) {
      case "createReplicaSet":
        this.replicaSets.push(
          stored({
            kind: "ReplicaSet",
            name: action.name,
            labels: action.labels,
            annotations: action.annotations,
            spec: structuredClone(action.spec),
            ownerUid: this.deployment.uid,
            createdAt: this.now,
          }),
        );
        break;
      case "scaleReplicaSet":
        this.update(action.uid, (rs) => ({ ...rs, spec: { ...rs.spec, replicas: action.replicas }, generation: rs.generation + 1 }));
        break;
      case "setRevision":
        this.update(action.uid, (rs) => ({ ...rs, annotations: { ...rs.annotations, [revisionAnnotation]: String(action.revision) } }));
        break;
      case "setMinReadySeconds":
        this.update(action.uid, (rs) => ({ ...rs, spec: { ...rs.spec, minReadySeconds: action.minReadySeconds }, generation: rs.generation + 1 }));
        break;
      case "deleteReplicaSet":
        this.replicaSets = this.replicaSets.filter((rs) => rs.uid !== action.uid);
        break;
    }
  }

  update(uid: string, change: (rs: StoredObject) => StoredObject): void {
    this.replicaSets = this.replicaSets.map((rs) => (rs.uid === uid ? change(rs) : rs));
  }

  /**
   * Every ReplicaSet controller pass: pods created (not ready) or deleted (gone at once). `newestFirst`, with
   * `afterEach` called between the sets: the new set's pods appear before the old set's surplus is gone.
   */
  reconcileReplicaSets(options: { newestFirst?: boolean; afterEach?: () => void } = {}): void {
    const order = options.newestFirst ? [...this.replicaSets].reverse() : this.replicaSets;
    for (const rs of order) {
      const owned = this.pods.filter((pod) => pod.ownerUid === rs.uid);
      const plan = planReplicaSet({ replicaSet: rs, pods: owned, now: this.now, nameSeed: `seed-${this.#podCount}` });
      for (const action of plan.actions) {
        if (action.type === "createPod") {
          this.#podCount += 1;
          this.pods.push(
            stored({ kind: "Pod", apiVersion: "v1", name: action.name, ownerUid: rs.uid, labels: action.template.metadata.labels, spec: { nodeName: "n1" }, createdAt: this.now }),
          );
        } else {
          this.pods = this.pods.filter((pod) => pod.uid !== action.uid);
        }
      }
      this.update(rs.uid, (current) => ({ ...current, status: plan.status }));
      options.afterEach?.();
    }
  }

  markPodsReady(): void {
    this.pods = this.pods.map((pod) =>
      pod.status["ready"] === true
        ? pod
        : { ...pod, status: { phase: "Running", ready: true, startTime: this.now.toISOString(), conditions: [{ type: "Ready", status: "True", lastTransitionTime: this.now.toISOString() }] } },
    );
  }

  advance(seconds: number): void {
    this.now = new Date(this.now.getTime() + seconds * 1000);
  }

  commit(spec: DeploymentSpec): void {
    this.deployment = { ...this.deployment, spec, generation: this.deployment.generation + 1 };
  }

  replicasOf(version: string): number {
    const hash = podTemplateHash(deploymentSpec({ version }).template);
    const rs = this.replicaSets.find((candidate) => candidate.name === replicaSetName("web", hash));
    return rs ? (rs.spec as ReplicaSetSpec).replicas : 0;
  }

  availablePods(): number {
    return this.pods.filter((pod) => pod.status["ready"] === true).length;
  }

  /** Reconciles, marking pods ready after each pass, until the Deployment is Healthy and asks for nothing. */
  settle(maxSteps = 40): void {
    for (let step = 0; step < maxSteps; step++) {
      const plan = this.reconcileDeployment();
      this.reconcileReplicaSets();
      if (plan.actions.length === 0 && plan.status.health === "Healthy") return;
      this.advance(1);
      this.markPodsReady();
    }
    throw new Error("the deployment did not settle");
  }
}

// ---------------------------------------------------------------- health and hashing

describe("health", () => {
  it("orders Healthy < Suspended < Progressing < Degraded < Missing < Unknown", () => {
    expect(worse("Healthy", "Progressing")).toBe("Progressing");
    expect(worse("Progressing", "Suspended")).toBe("Progressing");
    expect(worse("Degraded", "Missing")).toBe("Missing");
    expect(worst(["Suspended", "Unknown", "Degraded"])).toBe("Unknown");
    expect(worst([])).toBe("Healthy");
  });
});

describe("pod-template-hash", () => {
  it("is stable across key order, DNS-safe, and changes with the collision count", () => {
    const template = deploymentSpec().template;
    const reordered = JSON.parse(JSON.stringify({ spec: template.spec, metadata: template.metadata }));
    expect(podTemplateHash(reordered)).toBe(podTemplateHash(template));
    expect(podTemplateHash(template)).toMatch(/^[0-9a-f]{10}$/);
    expect(podTemplateHash(template, 1)).not.toBe(podTemplateHash(template));
    expect(podTemplateHash(deploymentSpec({ version: "v2" }).template)).not.toBe(podTemplateHash(template));
  });
});

// ---------------------------------------------------------------- fenceposts

describe("resolveFenceposts: surge rounds up, unavailable rounds down", () => {
  const cases: { replicas: number; maxSurge: number | string; maxUnavailable: number | string; expected: [number, number] }[] = [
    { replicas: 4, maxSurge: "25%", maxUnavailable: "25%", expected: [1, 1] },
    { replicas: 10, maxSurge: "25%", maxUnavailable: "25%", expected: [3, 2] },
    { replicas: 3, maxSurge: "25%", maxUnavailable: "25%", expected: [1, 0] },
    { replicas: 10, maxSurge: "0%", maxUnavailable: "5%", expected: [0, 1] }, // both 0 after rounding: unavailable 1
    { replicas: 6, maxSurge: 2, maxUnavailable: 2, expected: [2, 2] },
    { replicas: 3, maxSurge: 0, maxUnavailable: "100%", expected: [0, 3] },
    { replicas: 3, maxSurge: 1, maxUnavailable: 5, expected: [1, 3] }, // unavailable never above replicas
    { replicas: 0, maxSurge: 1, maxUnavailable: 1, expected: [1, 0] },
  ];
  it.each(cases)("$maxSurge/$maxUnavailable of $replicas → $expected", ({ replicas, maxSurge, maxUnavailable, expected }) => {
    const spec = deploymentSpec({ replicas, strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable } } });
    const { maxSurge: surge, maxUnavailable: unavailable } = resolveFenceposts(spec);
    expect([surge, unavailable]).toEqual(expected);
  });

  it("is 0/0 for Recreate", () => {
    expect(resolveFenceposts(deploymentSpec({ strategy: { type: "Recreate" } }))).toEqual({ maxSurge: 0, maxUnavailable: 0 });
  });
});

// ---------------------------------------------------------------- first rollout

describe("planDeployment: the first ReplicaSet", () => {
  it("is created with the hash label on labels, selector and template, and revision 1", () => {
    const spec = deploymentSpec();
    const plan = planDeployment({ deployment: deployment(spec), replicaSets: [], pods: [], now: at(1000) });
    const hash = podTemplateHash(spec.template);
    expect(plan.actions).toEqual([
      {
        type: "createReplicaSet",
        name: `web-${hash}`,
        labels: { app: "web", "pod-template-hash": hash },
        annotations: { [revisionAnnotation]: "1" },
        spec: {
          replicas: 4,
          minReadySeconds: 0,
          selector: { matchLabels: { app: "web", "pod-template-hash": hash } },
          template: { ...spec.template, metadata: { ...spec.template.metadata, labels: { app: "web", "pod-template-hash": hash } } },
        },
      },
    ]);
    expect(plan.status).toMatchObject({ observedGeneration: 1, replicas: 0, revision: 1, health: "Progressing", collisionCount: 0 });
    expect(progressingOf(plan)).toMatchObject({ status: "True", reason: "NewReplicaSetCreated", lastUpdateTime: at(1000).toISOString() });
    expect(availableOf(plan)).toMatchObject({ status: "False", reason: "MinimumReplicasUnavailable" });
  });

  it("counts a hash collision up and takes the next name", () => {
    const spec = deploymentSpec({ version: "v2" });
    const squatter = ownedReplicaSet({ version: "v1", revision: 1, replicas: 0 });
    squatter.name = replicaSetName("web", podTemplateHash(spec.template));
    const plan = planDeployment({ deployment: deployment(spec), replicaSets: [squatter], pods: [], now: at(1000) });
    expect(plan.actions[0]).toMatchObject({ type: "createReplicaSet", name: replicaSetName("web", podTemplateHash(spec.template, 1)) });
    expect(plan.status.collisionCount).toBe(1);
  });

  it("settles to complete: Available, NewReplicaSetAvailable, Healthy", () => {
    const world = new World(deployment(deploymentSpec()));
    world.settle();
    const plan = world.reconcileDeployment();
    expect(plan.actions).toEqual([]);
    expect(plan.status).toMatchObject({ replicas: 4, updatedReplicas: 4, readyReplicas: 4, availableReplicas: 4, unavailableReplicas: 0, health: "Healthy" });
    expect(progressingOf(plan)).toMatchObject({ status: "True", reason: "NewReplicaSetAvailable" });
    expect(availableOf(plan)).toMatchObject({ status: "True", reason: "MinimumReplicasAvailable" });
  });
});

// ---------------------------------------------------------------- rolling updates, step by step

describe("planDeployment: RollingUpdate keeps within maxSurge and maxUnavailable at every step", () => {
  const cases: { replicas: number; maxSurge: number | string; maxUnavailable: number | string; steps?: [number, number][] }[] = [
    // [old, new] ReplicaSet sizes after each pass, as Kubernetes' rolling.go moves them.
    { replicas: 4, maxSurge: "25%", maxUnavailable: "25%", steps: [[3, 1], [3, 2], [1, 2], [1, 4], [0, 4]] },
    { replicas: 4, maxSurge: 1, maxUnavailable: 0, steps: [[4, 1], [3, 1], [3, 2], [2, 2], [2, 3], [1, 3], [1, 4], [0, 4]] },
    { replicas: 4, maxSurge: 0, maxUnavailable: 1, steps: [[3, 0], [3, 1], [2, 1], [2, 2], [1, 2], [1, 3], [0, 3], [0, 4]] },
    { replicas: 6, maxSurge: 2, maxUnavailable: 2 },
    { replicas: 10, maxSurge: "25%", maxUnavailable: "25%" },
    { replicas: 10, maxSurge: "5%", maxUnavailable: "5%" },
    { replicas: 3, maxSurge: "100%", maxUnavailable: 0 },
    { replicas: 5, maxSurge: 0, maxUnavailable: "100%" },
  ];

  it.each(cases)("$maxSurge/$maxUnavailable of $replicas", ({ replicas, maxSurge, maxUnavailable, steps }) => {
    const strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable } };
    const world = new World(deployment(deploymentSpec({ replicas, strategy })));
    world.settle();
    const v2 = deploymentSpec({ version: "v2", replicas, strategy });
    const { maxSurge: surge, maxUnavailable: unavailable } = resolveFenceposts(v2);
    world.commit(v2);

    const seen: [number, number][] = [];
    let plan: DeploymentPlan | undefined;
    for (let step = 0; step < 60; step++) {
      plan = world.reconcileDeployment();
      world.reconcileReplicaSets();
      if (plan.actions.length === 0 && plan.status.health === "Healthy") break;
      seen.push([world.replicasOf("v1"), world.replicasOf("v2")]);
      expect(world.pods.length, `pods after step ${step}`).toBeLessThanOrEqual(replicas + surge);
      expect(world.availablePods(), `available pods after step ${step}`).toBeGreaterThanOrEqual(replicas - unavailable);
      world.advance(1);
      world.markPodsReady();
    }

    expect(plan?.status.health).toBe("Healthy");
    expect(world.replicasOf("v1")).toBe(0);
    expect(world.replicasOf("v2")).toBe(replicas);
    expect(plan?.status).toMatchObject({ revision: 2, observedGeneration: 2, updatedReplicas: replicas, availableReplicas: replicas });
    if (steps) expect(seen.filter(([oldSize, newSize], index) => index === 0 || `${seen[index - 1]}` !== `${[oldSize, newSize]}`)).toEqual(steps);
  });

  // A control plane SIGKILLed between the Deployment's scaling of a ReplicaSet and that ReplicaSet's pod
  // deletion (test/faults/control-plane-kill.test.ts) comes back with both controllers running at once: the
  // Deployment may pass again before the ReplicaSet has removed the pods it no longer wants.
  it.each(cases)("$maxSurge/$maxUnavailable of $replicas, with the ReplicaSet controller a pass behind", ({ replicas, maxSurge, maxUnavailable }) => {
    const strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable } };
    const world = new World(deployment(deploymentSpec({ replicas, strategy })));
    world.settle();
    const v2 = deploymentSpec({ version: "v2", replicas, strategy });
    const { maxSurge: surge, maxUnavailable: unavailable } = resolveFenceposts(v2);
    world.commit(v2);

    let plan: DeploymentPlan | undefined;
    for (let step = 0; step < 120; step++) {
      plan = world.reconcileDeployment();
      plan = world.reconcileDeployment();
      const within = () => {
        expect(world.pods.length, `pods in step ${step}`).toBeLessThanOrEqual(replicas + surge);
        expect(world.availablePods(), `available pods in step ${step}`).toBeGreaterThanOrEqual(replicas - unavailable);
      };
      world.reconcileReplicaSets({ newestFirst: true, afterEach: within });
      if (plan.actions.length === 0 && plan.status.health === "Healthy") break;
      world.advance(1);
      world.markPodsReady();
    }
    expect(plan?.status.health).toBe("Healthy");
    expect([world.replicasOf("v1"), world.replicasOf("v2")]).toEqual([0, replicas]);
  });

  it("stalls without breaking availability when new pods never turn ready, then misses its deadline", () => {
    const world = new World(deployment(deploymentSpec({ progressDeadlineSeconds: 120 })));
    world.settle();
    world.commit(deploymentSpec({ version: "v2", progressDeadlineSeconds: 120 }));
    let plan = world.reconcileDeployment();
    for (let step = 0; step < 10; step++) {
      world.reconcileReplicaSets();
      world.advance(1);
      plan = world.reconcileDeployment();
    }
    expect(plan.actions).toEqual([]);
    expect([world.replicasOf("v1"), world.replicasOf("v2")]).toEqual([3, 2]);
    expect(world.availablePods()).toBe(3);
    expect(plan.status.health).toBe("Progressing");
    // The last progress was the second new pod being counted; the deadline runs from there.
    const lastProgress = Date.parse(progressingOf(plan)!.lastUpdateTime);
    expect(plan.requeueAfterMs).toBe(lastProgress + 120_000 - world.now.getTime());

    world.now = new Date(lastProgress + 120_000);
    plan = world.reconcileDeployment();
    expect(progressingOf(plan)).toMatchObject({ status: "False", reason: "ProgressDeadlineExceeded" });
    expect(plan.status.health).toBe("Degraded");
  });

  it("scales unavailable old pods away first, without counting them against availability", () => {
    const spec = deploymentSpec({ version: "v2" });
    const old = ownedReplicaSet({ version: "v1", revision: 1, replicas: 4 });
    const pods = [...podsOf(old, 2, ready), podOf(old, "crashing-1", { phase: "Running" }), podOf(old, "crashing-2", { phase: "Running" })];
    const plan = planDeployment({ deployment: deployment(spec), replicaSets: [old], pods, now: at(1000) });
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: "createReplicaSet", spec: expect.objectContaining({ replicas: 1 }) }),
      { type: "scaleReplicaSet", name: old.name, uid: old.uid, replicas: 3, from: 4 },
    ]);
  });

  it("scales straight up and down when only replicas change", () => {
    const rs = ownedReplicaSet({ version: "v1", revision: 1, replicas: 4 });
    const pods = podsOf(rs, 4, ready);
    const up = planDeployment({ deployment: deployment(deploymentSpec({ replicas: 6 })), replicaSets: [rs], pods, now: at(1000) });
    expect(up.actions).toEqual([{ type: "scaleReplicaSet", name: rs.name, uid: rs.uid, replicas: 6, from: 4 }]);
    const down = planDeployment({ deployment: deployment(deploymentSpec({ replicas: 1 })), replicaSets: [rs], pods, now: at(1000) });
    expect(down.actions).toEqual([{ type: "scaleReplicaSet", name: rs.name, uid: rs.uid, replicas: 1, from: 4 }]);
  });
});

// ---------------------------------------------------------------- Recreate

describe("planDeployment: Recreate", () => {
  const spec = deploymentSpec({ version: "v2", replicas: 3, strategy: { type: "Recreate" } });
  const old = ownedReplicaSet({ version: "v1", revision: 1, replicas: 3 });
  const emptied = { ...old, spec: { ...old.spec, replicas: 0 } };
  const kept = ownedReplicaSet({ version: "v2", revision: 1, replicas: 0, created: 0 });
  const hash = podTemplateHash(spec.template);

  const cases: { name: string; replicaSets: StoredObject[]; pods: StoredObject[]; actions: unknown[] }[] = [
    {
      name: "first scales every old ReplicaSet to 0, creating nothing",
      replicaSets: [old],
      pods: podsOf(old, 3, ready),
      actions: [{ type: "scaleReplicaSet", name: old.name, uid: old.uid, replicas: 0, from: 3 }],
    },
    {
      name: "then waits while old pods still run, terminating ones included",
      replicaSets: [emptied],
      pods: [podOf(old, "leaving", { ready: true, deleting: true }), podOf(old, "pending", { deleting: true })],
      actions: [],
    },
    {
      name: "then creates the new ReplicaSet at full size (finished pods do not block)",
      replicaSets: [emptied],
      pods: [podOf(old, "crashed", { phase: "Failed" })],
      actions: [expect.objectContaining({ type: "createReplicaSet", name: `web-${hash}`, spec: expect.objectContaining({ replicas: 3 }) })],
    },
    {
      name: "or scales up the kept ReplicaSet of that template",
      replicaSets: [emptied, { ...kept, createdAt: at(5) }],
      pods: [],
      actions: [
        { type: "setRevision", name: kept.name, uid: kept.uid, revision: 2 },
        { type: "scaleReplicaSet", name: kept.name, uid: kept.uid, replicas: 3, from: 0 },
      ],
    },
  ];
  it.each(cases)("$name", ({ replicaSets, pods, actions }) => {
    const plan = planDeployment({ deployment: deployment(spec), replicaSets, pods, now: at(1000) });
    expect(plan.actions).toEqual(actions);
  });

  it("never runs old and new pods together, end to end", () => {
    const recreate = { type: "Recreate" };
    const world = new World(deployment(deploymentSpec({ replicas: 3, strategy: recreate })));
    world.settle();
    world.commit(deploymentSpec({ version: "v2", replicas: 3, strategy: recreate }));
    for (let step = 0; step < 10; step++) {
      world.reconcileDeployment();
      world.reconcileReplicaSets();
      const owners = new Set(world.pods.map((pod) => pod.ownerUid));
      expect(owners.size, `ReplicaSets with pods after step ${step}`).toBeLessThanOrEqual(1);
      world.advance(1);
      world.markPodsReady();
    }
    expect([world.replicasOf("v1"), world.replicasOf("v2")]).toEqual([0, 3]);
    expect(world.reconcileDeployment().status.health).toBe("Healthy");
  });
});

// ---------------------------------------------------------------- paused

describe("planDeployment: paused", () => {
  const rs = ownedReplicaSet({ version: "v1", revision: 1, replicas: 4 });
  const pods = podsOf(rs, 4, ready);

  it("does not roll out a new template, and says Suspended", () => {
    const plan = planDeployment({ deployment: deployment(deploymentSpec({ version: "v2", paused: true })), replicaSets: [rs], pods, now: at(1000) });
    expect(plan.actions).toEqual([]);
    expect(progressingOf(plan)).toMatchObject({ status: "Unknown", reason: "DeploymentPaused", message: "Deployment is paused" });
    expect(plan.status.health).toBe("Suspended");
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it("still scales its only active ReplicaSet", () => {
    const plan = planDeployment({ deployment: deployment(deploymentSpec({ version: "v2", replicas: 6, paused: true })), replicaSets: [rs], pods, now: at(1000) });
    expect(plan.actions).toEqual([{ type: "scaleReplicaSet", name: rs.name, uid: rs.uid, replicas: 6, from: 4 }]);
  });

  it("resumes with DeploymentResumed, then rolls out", () => {
    const status = { replicas: 4, updatedReplicas: 0, readyReplicas: 4, availableReplicas: 4, conditions: [progressing("DeploymentPaused", "Unknown", 500)] };
    const plan = planDeployment({ deployment: deployment(deploymentSpec({ version: "v2" }), status), replicaSets: [rs], pods, now: at(1000) });
    expect(actionTypes(plan)).toEqual(["createReplicaSet", "scaleReplicaSet"]);
    // Resumed, then at once a new ReplicaSet: the progress clock starts now.
    expect(progressingOf(plan)).toMatchObject({ status: "True", reason: "NewReplicaSetCreated", lastUpdateTime: at(1000).toISOString() });
    expect(plan.status.health).toBe("Progressing");
  });
});

// ---------------------------------------------------------------- progress deadline

describe("planDeployment: progress deadline (progressDeadlineSeconds 600)", () => {
  const old = ownedReplicaSet({ version: "v1", revision: 1, replicas: 3 });
  const current = ownedReplicaSet({ version: "v2", revision: 2, replicas: 2 });
  const spec = deploymentSpec({ version: "v2" });
  // Stuck: two new pods that never turn ready; the last progress was at t=100.
  const pods = [...podsOf(old, 3, ready), ...podsOf(current, 2)];
  const stuckStatus = {
    replicas: 5,
    updatedReplicas: 2,
    readyReplicas: 3,
    availableReplicas: 3,
    conditions: [progressing("ReplicaSetUpdated", "True", 100)],
  };
  const plan = (now: number, status: Record<string, unknown> = stuckStatus, withPods = pods) =>
    planDeployment({ deployment: deployment(spec, status), replicaSets: [old, current], pods: withPods, now: at(now) });

  const cases: { name: string; now: number; reason: string; status: string; health: string; requeueAfterMs: number | undefined }[] = [
    { name: "before the deadline: still progressing, look again when it falls due", now: 699, reason: "ReplicaSetUpdated", status: "True", health: "Progressing", requeueAfterMs: 1000 },
    { name: "at the deadline: exceeded", now: 700, reason: "ProgressDeadlineExceeded", status: "False", health: "Degraded", requeueAfterMs: undefined },
  ];
  it.each(cases)("$name", ({ now, reason, status, health, requeueAfterMs }) => {
    const result = plan(now);
    expect(result.actions).toEqual([]);
    expect(progressingOf(result)).toMatchObject({ reason, status });
    expect(result.status.health).toBe(health);
    expect(result.requeueAfterMs).toBe(requeueAfterMs);
  });

  it("stays exceeded without touching its times, and progress clears it", () => {
    const exceeded = plan(700).status;
    const later = plan(900, exceeded);
    expect(progressingOf(later)).toEqual(progressingOf({ actions: [], status: exceeded }));

    const onePodReady = [...podsOf(old, 3, ready), podOf(current, "web-new-0", { ready: true, readyAt: 850 }), podOf(current, "web-new-1")];
    const recovered = plan(900, exceeded, onePodReady);
    expect(progressingOf(recovered)).toMatchObject({
      status: "True",
      reason: "ReplicaSetUpdated",
      lastUpdateTime: at(900).toISOString(),
      lastTransitionTime: at(900).toISOString(),
    });
    expect(recovered.status.health).toBe("Progressing");
  });

  it("counts from the new ReplicaSet's creation on a fresh rollout", () => {
    const first = planDeployment({ deployment: deployment(deploymentSpec({ version: "v3" }), stuckStatus), replicaSets: [old, current], pods, now: at(5000) });
    expect(progressingOf(first)).toMatchObject({ reason: "NewReplicaSetCreated", lastUpdateTime: at(5000).toISOString() });
    expect(first.requeueAfterMs).toBe(600_000);
  });
});

// ---------------------------------------------------------------- minReadySeconds

describe("planDeployment: minReadySeconds", () => {
  const strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
  const spec = deploymentSpec({ version: "v2", replicas: 2, minReadySeconds: 30, strategy });
  const old = ownedReplicaSet({ version: "v1", revision: 1, replicas: 2, minReadySeconds: 30 });
  const current = ownedReplicaSet({ version: "v2", revision: 2, replicas: 1, minReadySeconds: 30 });
  const pods = [...podsOf(old, 2, ready), podOf(current, "web-new", { ready: true, readyAt: 1000 }, 990)];

  const cases: { name: string; now: number; actions: DeploymentAction["type"][]; available: number; requeueAfterMs: number | undefined }[] = [
    { name: "a pod ready for less than minReadySeconds is not available: no old pod goes", now: 1010, actions: [], available: 2, requeueAfterMs: 20_000 },
    // Available went up: that is progress, so the deadline counts again from now.
    { name: "once it has been ready long enough, an old pod goes", now: 1030, actions: ["scaleReplicaSet"], available: 3, requeueAfterMs: 600_000 },
  ];
  it.each(cases)("$name", ({ now, actions, available, requeueAfterMs }) => {
    const status = { replicas: 3, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 2, conditions: [progressing("ReplicaSetUpdated", "True", 1000)] };
    const plan = planDeployment({ deployment: deployment(spec, status), replicaSets: [old, current], pods, now: at(now) });
    expect(actionTypes(plan)).toEqual(actions);
    expect(plan.status).toMatchObject({ readyReplicas: 3, availableReplicas: available });
    expect(plan.requeueAfterMs).toBe(requeueAfterMs);
  });

  it("is carried to a ReplicaSet whose template did not change", () => {
    const rs = ownedReplicaSet({ version: "v1", revision: 1, replicas: 4 });
    const plan = planDeployment({ deployment: deployment(deploymentSpec({ minReadySeconds: 15 })), replicaSets: [rs], pods: podsOf(rs, 4, ready), now: at(1000) });
    expect(plan.actions).toContainEqual({ type: "setMinReadySeconds", name: rs.name, uid: rs.uid, minReadySeconds: 15 });
  });
});

// ---------------------------------------------------------------- rollback and history

describe("planDeployment: rollback and history", () => {
  it("a rollback to a kept template re-uses its ReplicaSet and gives it the next revision", () => {
    const v1 = ownedReplicaSet({ version: "v1", revision: 1, replicas: 0 });
    const v2 = ownedReplicaSet({ version: "v2", revision: 2, replicas: 4 });
    const status = { replicas: 4, updatedReplicas: 4, readyReplicas: 4, availableReplicas: 4, conditions: [progressing("NewReplicaSetAvailable", "True", 100)] };
    const plan = planDeployment({ deployment: deployment(deploymentSpec({ version: "v1" }), status, 3), replicaSets: [v1, v2], pods: podsOf(v2, 4, ready), now: at(1000) });
    expect(plan.actions).toEqual([
      { type: "setRevision", name: v1.name, uid: v1.uid, revision: 3 },
      { type: "scaleReplicaSet", name: v1.name, uid: v1.uid, replicas: 1, from: 0 },
    ]);
    expect(plan.status).toMatchObject({ revision: 3, observedGeneration: 3, updatedReplicas: 0, health: "Progressing" });
    expect(progressingOf(plan)).toMatchObject({ reason: "FoundNewReplicaSet", lastUpdateTime: at(1000).toISOString() });
  });

  it("a rollback rolls all the way back, end to end", () => {
    const world = new World(deployment(deploymentSpec()));
    world.settle();
    world.commit(deploymentSpec({ version: "v2" }));
    world.settle();
    world.commit(deploymentSpec({ version: "v1" }));
    world.settle();
    expect(world.replicaSets.map((rs) => [rs.annotations[revisionAnnotation], (rs.spec as ReplicaSetSpec).replicas])).toEqual([
      ["3", 4],
      ["2", 0],
    ]);
  });

  const history = (limit: number) => {
    const olds = [1, 2, 3, 4].map((revision) => ownedReplicaSet({ version: `v${revision}`, revision, replicas: 0 }));
    const current = ownedReplicaSet({ version: "v5", revision: 5, replicas: 4 });
    return { olds, current, spec: deploymentSpec({ version: "v5", revisionHistoryLimit: limit }) };
  };

  it("deletes the oldest revisions beyond revisionHistoryLimit once the rollout is complete", () => {
    const { olds, current, spec } = history(2);
    const plan = planDeployment({ deployment: deployment(spec), replicaSets: [...olds].reverse().concat(current), pods: podsOf(current, 4, ready), now: at(1000) });
    expect(plan.actions).toEqual([
      { type: "deleteReplicaSet", name: olds[0]!.name, uid: olds[0]!.uid, revision: 1 },
      { type: "deleteReplicaSet", name: olds[1]!.name, uid: olds[1]!.uid, revision: 2 },
    ]);
  });

  it("keeps an old ReplicaSet that still has a running pod or an unobserved scale, and deletes nothing mid-rollout", () => {
    const { olds, current, spec } = history(2);
    const unobserved = { ...olds[1]!, generation: 2 };
    const lingering = podOf(olds[0]!, "lingering", { ready: true, deleting: true });
    const complete = planDeployment({ deployment: deployment(spec), replicaSets: [olds[0]!, unobserved, olds[2]!, olds[3]!, current], pods: [...podsOf(current, 4, ready), lingering], now: at(1000) });
    expect(complete.actions).toEqual([]);

    const rolling = planDeployment({ deployment: deployment(spec), replicaSets: [...olds, current], pods: podsOf(current, 4), now: at(1000) });
    expect(actionTypes(rolling)).not.toContain("deleteReplicaSet");
  });

  it("with revisionHistoryLimit 0 keeps no old ReplicaSet", () => {
    const { olds, current, spec } = history(0);
    const plan = planDeployment({ deployment: deployment(spec), replicaSets: [...olds, current], pods: podsOf(current, 4, ready), now: at(1000) });
    expect(plan.actions.map((action) => action.type === "deleteReplicaSet" && action.revision)).toEqual([1, 2, 3, 4]);
  });
});
