import type { z } from "zod";
import { CORE_V1, defineKind } from "./meta.ts";
import { podSpecSchema } from "./pod.ts";

/** `kind: Pod`: one set of processes on one node. Usually made by a controller, but may be written by hand. */
export const podKind = defineKind({
  kind: "Pod",
  apiVersions: CORE_V1,
  namespaced: true,
  fields: { spec: podSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type Pod = z.infer<typeof podKind.schema>;
