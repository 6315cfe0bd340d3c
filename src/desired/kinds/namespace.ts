import { z } from "zod";
import { CORE_V1, defineKind } from "./meta.ts";
import { dns1123Label } from "./names.ts";

/** A Namespace: a name that groups namespaced objects. It has nothing to configure yet. */
export const namespaceKind = defineKind({
  kind: "Namespace",
  apiVersions: CORE_V1,
  namespaced: false,
  // Namespace names appear inside other names and DNS labels, hence the stricter label rule.
  name: dns1123Label(),
  fields: {
    spec: z.strictObject({}).default({}),
  },
  specOf: (manifest) => manifest.spec,
});
export type Namespace = z.infer<typeof namespaceKind.schema>;
