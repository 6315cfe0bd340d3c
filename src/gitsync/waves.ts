import type { Clock } from "../clock.ts";
import { rolloutKinds, type DesiredObject, type RolloutLog, type StoredObject } from "../desired/index.ts";

/**
 * Sync waves (Argo CD's `argocd.argoproj.io/sync-wave`): within one commit,
 * objects annotated `capstan.dev/sync-wave: "<int>"` are applied in
 * ascending waves (default 0), and a wave starts only once the workloads of
 * the wave before have rolled out. The staging is pure; the waiting is the
 * small loop below.
 */
export const syncWaveAnnotation = "capstan.dev/sync-wave";

export function waveOf(object: { annotations: Record<string, string> }): number {
  const value = Number.parseInt(object.annotations[syncWaveAnnotation] ?? "0", 10);
  return Number.isFinite(value) ? value : 0;
}

const keyOf = (object: { kind: string; namespace: string; name: string }): string => `${object.kind}\u0001${object.namespace}\u0001${object.name}`;

export interface Stage {
  wave: number;
  /** The whole object set to apply at this stage: the commit's objects up to this wave, the live versions of the rest. */
  objects: DesiredObject[];
  /** The commit's objects of this wave: what to wait for before the next stage. */
  members: DesiredObject[];
}

/**
 * One stage per wave. A stage holds the commit's objects of its wave and the
 * waves before, and, for every other object, what is live now (so a later
 * wave's change, or an object the commit removes, waits its turn). The last
 * stage is exactly the commit: removals happen there, as Argo CD prunes last.
 * A commit with one wave is one stage: applied as ever.
 */
export function planStages(desired: readonly DesiredObject[], live: readonly DesiredObject[]): Stage[] {
  const waves = [...new Set(desired.map(waveOf))].sort((a, b) => a - b);
  return waves.map((wave, index) => {
    const members = desired.filter((object) => waveOf(object) === wave);
    if (index === waves.length - 1) return { wave, objects: [...desired], members };
    const applied = desired.filter((object) => waveOf(object) <= wave);
    const appliedKeys = new Set(applied.map(keyOf));
    return { wave, objects: [...applied, ...live.filter((object) => !appliedKeys.has(keyOf(object)))], members };
  });
}

/** A live git-sourced object as the sync would declare it, to carry it unchanged through a stage. */
export function declaredFromStored(object: StoredObject): DesiredObject {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: object.namespace,
    name: object.name,
    labels: object.labels,
    annotations: object.annotations,
    spec: object.spec,
    source: { file: object.sourceFile ?? "", line: object.sourceLine ?? 1, column: 1 },
  };
}

/**
 * Waits until no workload of `members` has a rollout of `sha` under way.
 * "failed" when one failed (the later waves are then not applied), "aborted"
 * when the signal fires (the sync is stopping or a newer commit is waiting).
 */
export async function waitForWave(
  rollouts: RolloutLog,
  sha: string,
  members: readonly DesiredObject[],
  clock: Clock,
  signal: AbortSignal,
  pollMs = 200,
): Promise<"ready" | "failed" | "aborted"> {
  const workloads = members.filter((object) => (rolloutKinds as readonly string[]).includes(object.kind));
  for (;;) {
    if (signal.aborted) return "aborted";
    let waiting = false;
    for (const workload of workloads) {
      const [entry] = await rollouts.history({ limit: 1, workload });
      const rollout = entry?.sha === sha ? entry.rollouts[0] : undefined;
      if (rollout?.outcome === "failed") return "failed";
      if (rollout?.outcome === "progressing") waiting = true;
    }
    if (!waiting) return "ready";
    await clock.sleep(pollMs, signal);
  }
}
