import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { Agent } from "../../../src/nodes/agent/index.ts";
import { createProcessRuntime } from "../../../src/nodes/agent/runtime/index.ts";
import { removeClaimDirectory } from "../../../src/nodes/agent/volumes.ts";
import { deleteClaimsParamsSchema, type AgentPodInput } from "../../../src/nodes/protocol.ts";
import { agentStateDir, processesOfAgent } from "../../helpers/agent.ts";
import { eventually } from "../../helpers/eventually.ts";

/** Claim directories on a real agent: kept across pods under one name, removed only when asked and unused. */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openAgent(): Promise<{ agent: Agent; stateDir: string }> {
  const dir = await agentStateDir();
  cleanups.push(dir.cleanup);
  const agent = await Agent.open({ stateDir: dir.stateDir, log: silentLogger, runtimes: new Map([["process", createProcessRuntime()]]) });
  cleanups.push(async () => {
    await agent.sync(1_000_000, []).catch(() => undefined);
    await eventually(async () => expect(await processesOfAgent(agent.agentId)).toEqual([]), 15_000);
    await agent.close();
    await agent.removeSecretRoot();
  });
  return { agent, stateDir: dir.stateDir };
}

/** A pod that appends its incarnation to a file in its claim and then sleeps; SIGTERM ends it after 300 ms. */
function writer(uid: string, incarnation: string): AgentPodInput {
  return {
    uid,
    namespace: "shop",
    name: "kv-0",
    spec: {
      containers: [
        {
          name: "kv",
          command: ["sh", "-c", `trap 'sleep 0.3; echo stopped-${incarnation} >> "$DATA/log"; exit 0' TERM; echo ${incarnation} >> "$DATA/log"; while true; do sleep 0.05; done`],
          env: [{ name: "DATA", value: "" }],
          volumeMounts: [{ name: "data", mountPath: "/unused" }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-kv-0" } }],
      terminationGracePeriodSeconds: 5,
    },
  } as unknown as AgentPodInput;
}

describe("claim directories on the agent", () => {
  it("starts a pod under a name still being stopped only after its predecessor is gone, and removes a claim only when no pod uses it", async () => {
    const { agent, stateDir } = await openAgent();
    const claimDir = join(stateDir, "claims", "shop", "data-kv-0");
    const withDir = (pod: AgentPodInput) => {
      const container = (pod.spec as { containers: { env: { name: string; value: string }[] }[] }).containers[0]!;
      container.env[0]!.value = claimDir;
      return pod;
    };
    await agent.sync(1, [withDir(writer("uid-a", "first"))]);
    await eventually(async () => expect(await readFile(join(claimDir, "log"), "utf8")).toBe("first\n"), 10_000);

    const inUse = await agent.deleteClaims([{ namespace: "shop", name: "data-kv-0" }]);
    expect(inUse).toEqual({ deleted: [], inUse: [{ namespace: "shop", name: "data-kv-0", pod: "kv-0" }] });

    // The successor under the same name (a new uid) waits for the first to write its last line.
    await agent.sync(2, [withDir(writer("uid-b", "second"))]);
    await eventually(async () => expect(await readFile(join(claimDir, "log"), "utf8")).toBe("first\nstopped-first\nsecond\n"), 10_000);

    await agent.sync(3, []);
    // While the pod is being stopped (its TERM trap takes 300 ms), its claim is still in use.
    expect(await agent.deleteClaims([{ namespace: "shop", name: "data-kv-0" }])).toEqual({ deleted: [], inUse: [{ namespace: "shop", name: "data-kv-0", pod: "kv-0" }] });
    const result = await eventually(async () => {
      const answer = await agent.deleteClaims([{ namespace: "shop", name: "data-kv-0" }, { namespace: "shop", name: "never-made" }]);
      expect(answer.inUse).toEqual([]);
      return answer;
    }, 10_000);
    expect(result.deleted).toEqual([{ namespace: "shop", name: "data-kv-0" }, { namespace: "shop", name: "never-made" }]);
    await expect(stat(claimDir)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("removes only directories two levels under the claims root, and a symlink without following it", async () => {
    const { stateDir } = await openAgent();
    const claims = join(stateDir, "claims");
    const outside = join(stateDir, "precious");
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "keep"), "data");
    await mkdir(join(claims, "shop"), { recursive: true });
    await symlink(outside, join(claims, "shop", "linked"));
    await removeClaimDirectory(claims, "shop", "linked");
    expect(await readFile(join(outside, "keep"), "utf8")).toBe("data");
    await expect(removeClaimDirectory(claims, "..", "precious")).rejects.toThrow(/refusing to remove/);
    await expect(removeClaimDirectory(claims, "shop", "../../precious")).rejects.toThrow(/refusing to remove/);
    expect(await readFile(join(outside, "keep"), "utf8")).toBe("data");
    // The protocol refuses such names before they reach the agent at all.
    expect(deleteClaimsParamsSchema.safeParse({ claims: [{ namespace: "shop", name: "../x" }] }).success).toBe(false);
    expect(deleteClaimsParamsSchema.safeParse({ claims: [{ namespace: "..", name: "x" }] }).success).toBe(false);
  });
});
