import { describe, expect, it } from "vitest";
import type { DesiredObject } from "../../src/desired/index.ts";
import { planStages, waveOf } from "../../src/gitsync/waves.ts";

const object = (name: string, version: string, wave?: string): DesiredObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  namespace: "default",
  name,
  labels: {},
  annotations: wave === undefined ? {} : { "capstan.dev/sync-wave": wave },
  spec: { version },
  source: { file: `${name}.yaml`, line: 1, column: 1 },
});

/** `name@version` per object of a stage, sorted. */
const show = (objects: DesiredObject[]) => objects.map((o) => `${o.name}@${(o.spec as { version: string }).version}`).sort();

describe("planStages: a commit applied wave by wave", () => {
  it("is one stage, the commit itself, when no object names a wave", () => {
    const desired = [object("a", "2"), object("b", "2")];
    const stages = planStages(desired, [object("a", "1"), object("gone", "1")]);
    expect(stages).toHaveLength(1);
    expect(stages[0]!.objects).toEqual(desired);
  });

  it("applies lower waves first, carries later waves' live versions, and removes objects only in the last stage", () => {
    const desired = [object("db", "2", "-1"), object("web", "2", "1"), object("cache", "2"), object("new", "1", "1")];
    const live = [object("db", "1", "-1"), object("web", "1", "1"), object("cache", "1"), object("gone", "1")];
    const stages = planStages(desired, live);
    expect(stages.map((stage) => stage.wave)).toEqual([-1, 0, 1]);
    expect(stages.map((stage) => show(stage.objects))).toEqual([
      ["cache@1", "db@2", "gone@1", "web@1"],
      ["cache@2", "db@2", "gone@1", "web@1"],
      ["cache@2", "db@2", "new@1", "web@2"],
    ]);
    expect(stages.map((stage) => show(stage.members))).toEqual([["db@2"], ["cache@2"], ["new@1", "web@2"]]);
  });

  it.each([
    { annotation: undefined, wave: 0 },
    { annotation: "3", wave: 3 },
    { annotation: "-2", wave: -2 },
    { annotation: "soon", wave: 0 },
  ])("reads sync-wave $annotation as wave $wave", ({ annotation, wave }) => {
    expect(waveOf(object("x", "1", annotation))).toBe(wave);
  });
});
