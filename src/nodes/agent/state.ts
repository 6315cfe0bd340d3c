import { randomUUID } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { formatFieldPath } from "../../desired/index.ts";
import { agentPodSchema } from "../protocol.ts";
import { writeFileAtomically } from "./atomic-file.ts";
import { podRecordSchema } from "./pod-record.ts";
import { savedServicesSchema } from "./services.ts";

/**
 * The agent's memory across restarts: the pods assigned to it (with their
 * resolved configuration, so they run with no control plane) and what it
 * knows of their processes, so that a restarted agent re-adopts them rather
 * than starting duplicates; and the Services it last served, so it serves
 * them again on its own. Written atomically (temp file, fsync, rename);
 * mode 0600, because pods carry their Secret data.
 */
export const agentStateSchema = z.strictObject({
  version: z.literal(1),
  /** Marks every process this agent starts; a restarted agent finds its own by it. */
  agentId: z.string(),
  generation: z.number().int().nonnegative(),
  node: z.strictObject({ name: z.string(), address: z.string() }).optional(),
  pods: z.array(agentPodSchema),
  records: z.record(z.string(), podRecordSchema),
  /** The last syncServices applied; absent in a state written before Services existed. */
  services: savedServicesSchema.default({ generation: 0, routes: [] }),
});
export type AgentState = z.infer<typeof agentStateSchema>;

export const stateFileName = "state.json";

export function emptyState(): AgentState {
  return { version: 1, agentId: randomUUID(), generation: 0, pods: [], records: {}, services: { generation: 0, routes: [] } };
}

/** The state in `stateDir`, a fresh one when there is none; a corrupt file is an error naming it, never silently replaced. */
export async function loadState(stateDir: string): Promise<AgentState> {
  const path = join(stateDir, stateFileName);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyState();
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message}); move it away to start with no pods`);
  }
  const parsed = agentStateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: ${formatFieldPath(issue.path as (string | number)[])}: ${issue.message}`);
  }
  return parsed.data;
}

/** Atomic replace: a crash leaves either the old file or the new one, never half of one. */
export async function saveState(stateDir: string, state: AgentState): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomically(join(stateDir, stateFileName), JSON.stringify(state), 0o600, { sync: true });
}
