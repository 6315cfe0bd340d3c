import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, listen, type RunningServer } from "../../src/status/index.ts";
import { runCli } from "../helpers/cli.ts";

/** `capstan sync` through the real executable against a status server: it sends CAPSTAN_TOKEN and reports a refusal with exit 1. */

const token = "a-long-enough-token";
let guarded: RunningServer;
let disabled: RunningServer;
let requests = 0;

beforeAll(async () => {
  const options = { store: new MemoryDesiredStore(), log: silentLogger, storeReachable: async () => true, syncNow: () => void requests++ };
  guarded = await listen(createStatusApp({ ...options, token }), "127.0.0.1", 0);
  disabled = await listen(createStatusApp(options), "127.0.0.1", 0);
});

afterAll(async () => {
  await guarded?.close();
  await disabled?.close();
});

describe("capstan sync", () => {
  it("asks for a fetch with CAPSTAN_TOKEN", async () => {
    const before = requests;
    const result = await runCli(["sync", "--server", guarded.url], { CAPSTAN_TOKEN: token });
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("sync requested: the control plane fetches now; capstan status shows what it found\n");
    expect(result.code).toBe(0);
    expect(requests).toBe(before + 1);
  });

  it.each([
    { case: "without CAPSTAN_TOKEN", server: () => guarded.url, env: "", error: /401 sync now needs the control plane's token/ },
    { case: "with a wrong one", server: () => guarded.url, env: `${token}x`, error: /403 sync now refused: the token does not match CAPSTAN_TOKEN/ },
    { case: "while actions are disabled", server: () => disabled.url, env: token, error: /403 sync now disabled: this control plane has no CAPSTAN_TOKEN/ },
  ])("exits 1 $case, saying why, and nothing is asked", async ({ server, env, error }) => {
    const before = requests;
    const result = await runCli(["sync", "--server", server()], { CAPSTAN_TOKEN: env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(error);
    expect(result.stdout).toBe("");
    expect(requests).toBe(before);
  });
});
