import { describe, expect, it } from "vitest";
import { buildContainerEnv, expandVariables } from "../../../src/nodes/agent/env.ts";
import { PodConfigError } from "../../../src/nodes/agent/errors.ts";
import { serviceEnvironment } from "../../../src/nodes/agent/service-routes.ts";
import { agentPodSchema, serviceRouteSchema, type AgentPod, type AgentPodInput } from "../../../src/nodes/protocol.ts";

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/** A pod in namespace "shop" whose only container is `container`. */
function podWith(container: Record<string, unknown>, extra: Partial<AgentPodInput> = {}): AgentPod {
  return agentPodSchema.parse({
    uid: "0b7c6f1e-uid",
    namespace: "shop",
    name: "web-0",
    labels: { app: "web", "app.kubernetes.io/part-of": "shop" },
    annotations: { "capstan.dev/revision": "abc123" },
    spec: { containers: [{ name: "app", command: ["node", "server.js"], ...container }] },
    configMaps: {
      "web-config": { LOG_LEVEL: "debug", "with-dash": "ok", "1STARTS_WITH_DIGIT": "x", "has space": "y", SHARED: "from-config" },
      "other-config": { SHARED: "from-other" },
    },
    secrets: {
      "web-secrets": { "api-token": base64("s3cr3t"), greeting: base64("héllo wörld"), SHARED: base64("from-secret") },
    },
    ...extra,
  });
}

function build(container: Record<string, unknown>, options: { extra?: Partial<AgentPodInput>; hostPorts?: Record<string, number> } = {}) {
  const pod = podWith(container, options.extra);
  return buildContainerEnv({
    pod,
    container: pod.spec.containers[0]!,
    hostPorts: options.hostPorts ?? {},
    hostIP: "10.0.0.7",
    nodeName: "node-a",
    baseEnv: { PATH: "/usr/bin:/bin", HOME: "/home/capstan" },
  });
}

function configError(run: () => unknown): PodConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PodConfigError);
    return error as PodConfigError;
  }
  throw new Error("expected a PodConfigError, nothing was thrown");
}

describe("expandVariables: Kubernetes $(VAR) rules", () => {
  const defined: Record<string, string> = { A: "a", B: "b", EMPTY: "" };
  const lookup = (name: string) => defined[name];
  const cases: [string, string, string][] = [
    ["a defined variable expands", "$(A)", "a"],
    ["inside text", "x-$(A)-y", "x-a-y"],
    ["two in a row", "$(A)$(B)", "ab"],
    ["a defined empty variable expands to nothing", "[$(EMPTY)]", "[]"],
    ["an undefined variable stays as written", "$(MISSING)", "$(MISSING)"],
    ["$$( escapes a reference", "$$(A)", "$(A)"],
    ["$$ is one $", "cost: $$5", "cost: $5"],
    ["$$$$ is two", "$$$$", "$$"],
    ["an escaped $ then a reference", "$$$(A)", "$a"],
    ["a lone trailing $ stays", "a$", "a$"],
    ["just $", "$", "$"],
    ["$ before another character stays", "$HOME and $x", "$HOME and $x"],
    ["an unclosed reference stays", "$(A", "$(A"],
    ["an unclosed reference, then a closed one", "$($(A)", "$($(A)"],
    ["the name ends at the first )", "$($(A))", "$($(A))"],
    ["an empty name is undefined", "$()", "$()"],
    ["no references", "plain text", "plain text"],
    ["a reference after the end of one", "$(A)$", "a$"],
  ];
  it.each(cases)("%s: %j → %j", (_, text, expected) => {
    expect(expandVariables(text, lookup)).toBe(expected);
  });
});

describe("buildContainerEnv", () => {
  it("starts from the agent's PATH, HOME, LANG and TZ when no base environment is given, and nothing else of the agent's", () => {
    const pod = podWith({});
    const { env } = buildContainerEnv({ pod, container: pod.spec.containers[0]!, hostPorts: {}, hostIP: "10.0.0.7", nodeName: "node-a" });
    expect(env.PATH).toBe(process.env.PATH);
    expect(Object.keys(env).every((name) => ["PATH", "HOME", "LANG", "TZ"].includes(name))).toBe(true);
    for (const name of ["PATH", "HOME", "LANG", "TZ"]) expect(env[name]).toBe(process.env[name]);
  });

  it("takes the given base environment instead", () => {
    expect({ ...build({}).env }).toEqual({ PATH: "/usr/bin:/bin", HOME: "/home/capstan" });
  });

  it("sets PORT to the first port's host port, PORT_<NAME> for named ports and PORT_<containerPort> for unnamed ones", () => {
    const { env } = build(
      {
        ports: [
          { name: "http", containerPort: 8080 },
          { name: "admin-api", containerPort: 9000 },
          { containerPort: 5353, protocol: "UDP" },
          { name: "fixed", containerPort: 7000, hostPort: 17000 },
        ],
      },
      { hostPorts: { "app/http": 41001, "app/admin-api": 41002, "app/5353": 41003, "app/fixed": 17000 } },
    );
    expect({ ...env }).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/capstan",
      PORT: "41001",
      PORT_HTTP: "41001",
      PORT_ADMIN_API: "41002",
      PORT_5353: "41003",
      PORT_FIXED: "17000",
    });
  });

  it("sets no PORT when the container declares no ports", () => {
    expect(build({}).env.PORT).toBeUndefined();
  });

  describe("precedence: base < ports < envFrom (in order) < env", () => {
    const cases: { name: string; container: Record<string, unknown>; expected: Record<string, string | undefined> }[] = [
      {
        name: "envFrom overrides the base environment and port variables",
        container: {
          ports: [{ containerPort: 8080 }],
          envFrom: [{ configMapRef: { name: "web-config" } }],
          env: [],
        },
        expected: { PORT: "41000", LOG_LEVEL: "debug" },
      },
      {
        name: "a later envFrom source overrides an earlier one",
        container: { envFrom: [{ configMapRef: { name: "web-config" } }, { configMapRef: { name: "other-config" } }] },
        expected: { SHARED: "from-other" },
      },
      {
        name: "env overrides envFrom",
        container: { envFrom: [{ configMapRef: { name: "web-config" } }], env: [{ name: "SHARED", value: "from-env" }] },
        expected: { SHARED: "from-env" },
      },
      {
        name: "env overrides the base environment",
        container: { env: [{ name: "PATH", value: "/opt/app/bin:$(PATH)" }] },
        expected: { PATH: "/opt/app/bin:/usr/bin:/bin" },
      },
      {
        name: "a later env entry overrides an earlier one",
        container: { env: [{ name: "X", value: "1" }, { name: "X", value: "2" }] },
        expected: { X: "2" },
      },
    ];
    it.each(cases)("$name", ({ container, expected }) => {
      const { env } = build(container, { hostPorts: { "app/8080": 41000 } });
      for (const [name, value] of Object.entries(expected)) expect(env[name], name).toBe(value);
    });
  });

  describe("envFrom", () => {
    it("copies every valid key and skips keys that are not environment variable names, like the kubelet", () => {
      const { env } = build({ envFrom: [{ configMapRef: { name: "web-config" } }] });
      expect(env).toMatchObject({ LOG_LEVEL: "debug", "with-dash": "ok", SHARED: "from-config" });
      expect(env["1STARTS_WITH_DIGIT"]).toBeUndefined();
      expect(env["has space"]).toBeUndefined();
    });

    it("prefixes keys, judging validity on the prefixed name", () => {
      const { env } = build({ envFrom: [{ configMapRef: { name: "web-config" }, prefix: "CFG_" }] });
      expect(env).toMatchObject({ CFG_LOG_LEVEL: "debug", CFG_1STARTS_WITH_DIGIT: "x" });
      expect(env.LOG_LEVEL).toBeUndefined();
      expect(env["CFG_has space"]).toBeUndefined();
    });

    it("reads a ConfigMap's data only, never its binaryData, as the kubelet does", () => {
      const extra = { configMapBinaryData: { "web-config": { BLOB: Buffer.from([0xff, 0xfe]).toString("base64") } } };
      const { env } = build({ envFrom: [{ configMapRef: { name: "web-config" } }] }, { extra });
      expect(env.LOG_LEVEL).toBe("debug");
      expect(env.BLOB).toBeUndefined();
    });

    it("decodes a Secret's base64 values", () => {
      const { env } = build({ envFrom: [{ secretRef: { name: "web-secrets" }, prefix: "S_" }] });
      expect(env).toMatchObject({ "S_api-token": "s3cr3t", S_greeting: "héllo wörld", S_SHARED: "from-secret" });
    });

    it.each([
      [{ configMapRef: { name: "absent" } }, 'configmap "absent" not found'],
      [{ secretRef: { name: "absent" } }, 'secret "absent" not found'],
    ])("fails on a missing source that is not optional: %j", (source, message) => {
      const error = configError(() => build({ envFrom: [source] }));
      expect(error.reason).toBe("CreateContainerConfigError");
      expect(error.message).toBe(message);
    });

    it("skips a missing optional source", () => {
      const { env } = build({
        envFrom: [{ configMapRef: { name: "absent", optional: true } }, { secretRef: { name: "absent", optional: true } }],
      });
      expect({ ...env }).toEqual({ PATH: "/usr/bin:/bin", HOME: "/home/capstan" });
    });
  });

  describe("env values", () => {
    it("expands $(VAR) against the variables defined before it, leaving later ones literal", () => {
      const { env } = build({
        ports: [{ name: "http", containerPort: 8080 }],
        envFrom: [{ configMapRef: { name: "web-config" } }],
        env: [
          { name: "A", value: "1" },
          { name: "B", value: "$(A)-$(C)-$(LOG_LEVEL)-$(PORT_HTTP)-$(HOME)" },
          { name: "C", value: "3" },
          { name: "ESCAPED", value: "$$(A) costs $$1" },
        ],
      }, { hostPorts: { "app/http": 42000 } });
      expect(env.B).toBe("1-$(C)-debug-42000-/home/capstan");
      expect(env.ESCAPED).toBe("$(A) costs $1");
    });

    it("sets a variable with neither value nor valueFrom to the empty string", () => {
      expect(build({ env: [{ name: "EMPTY" }] }).env.EMPTY).toBe("");
    });

    it("takes a variable named __proto__ as an ordinary variable", () => {
      expect(Object.hasOwn(build({ env: [{ name: "__proto__", value: "x" }] }).env, "__proto__")).toBe(true);
    });
  });

  describe("valueFrom", () => {
    const cases: { name: string; valueFrom: Record<string, unknown>; expected: string | undefined }[] = [
      { name: "configMapKeyRef", valueFrom: { configMapKeyRef: { name: "web-config", key: "LOG_LEVEL" } }, expected: "debug" },
      { name: "secretKeyRef, decoded", valueFrom: { secretKeyRef: { name: "web-secrets", key: "greeting" } }, expected: "héllo wörld" },
      {
        name: "optional configMapKeyRef to a missing key",
        valueFrom: { configMapKeyRef: { name: "web-config", key: "nope", optional: true } },
        expected: undefined,
      },
      {
        name: "optional configMapKeyRef to a missing ConfigMap",
        valueFrom: { configMapKeyRef: { name: "absent", key: "k", optional: true } },
        expected: undefined,
      },
      {
        name: "optional secretKeyRef to a missing key",
        valueFrom: { secretKeyRef: { name: "web-secrets", key: "nope", optional: true } },
        expected: undefined,
      },
      {
        name: "optional secretKeyRef to a missing Secret",
        valueFrom: { secretKeyRef: { name: "absent", key: "k", optional: true } },
        expected: undefined,
      },
      { name: "fieldRef metadata.name", valueFrom: { fieldRef: { fieldPath: "metadata.name" } }, expected: "web-0" },
      { name: "fieldRef metadata.namespace", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } }, expected: "shop" },
      { name: "fieldRef metadata.uid", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } }, expected: "0b7c6f1e-uid" },
      { name: "fieldRef a label", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app.kubernetes.io/part-of']" } }, expected: "shop" },
      { name: "fieldRef a missing label", valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } }, expected: "" },
      {
        name: "fieldRef an annotation",
        valueFrom: { fieldRef: { fieldPath: "metadata.annotations['capstan.dev/revision']" } },
        expected: "abc123",
      },
      { name: "fieldRef spec.nodeName", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } }, expected: "node-a" },
      { name: "fieldRef status.hostIP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } }, expected: "10.0.0.7" },
      { name: "fieldRef status.podIP is the host's address", valueFrom: { fieldRef: { fieldPath: "status.podIP" } }, expected: "10.0.0.7" },
    ];
    it.each(cases)("$name", ({ valueFrom, expected }) => {
      const { env } = build({ env: [{ name: "V", valueFrom }] });
      expect(env.V).toBe(expected);
      expect(Object.hasOwn(env, "V")).toBe(expected !== undefined);
    });

    it("leaves a variable set by envFrom as it was when an optional reference resolves to nothing", () => {
      const { env } = build({
        envFrom: [{ configMapRef: { name: "web-config" } }],
        env: [{ name: "LOG_LEVEL", valueFrom: { secretKeyRef: { name: "web-secrets", key: "nope", optional: true } } }],
      });
      expect(env.LOG_LEVEL).toBe("debug");
    });

    it("does not expand $(VAR) in values read from ConfigMaps and Secrets", () => {
      const { env } = build(
        { env: [{ name: "A", value: "1" }, { name: "V", valueFrom: { configMapKeyRef: { name: "literal", key: "v" } } }] },
        { extra: { configMaps: { literal: { v: "$(A)" } } } },
      );
      expect(env.V).toBe("$(A)");
    });

    it.each([
      [{ configMapKeyRef: { name: "absent", key: "k" } }, 'configmap "absent" not found'],
      [{ configMapKeyRef: { name: "web-config", key: "nope" } }, "couldn't find key nope in ConfigMap shop/web-config"],
      [{ secretKeyRef: { name: "absent", key: "k" } }, 'secret "absent" not found'],
      [{ secretKeyRef: { name: "web-secrets", key: "password" } }, "couldn't find key password in Secret shop/web-secrets"],
    ])("fails like the kubelet on a required reference that does not resolve: %j", (valueFrom, message) => {
      const error = configError(() => build({ env: [{ name: "V", valueFrom }] }));
      expect(error.reason).toBe("CreateContainerConfigError");
      expect(error.message).toBe(message);
    });
  });

  describe("argv", () => {
    const cases: { name: string; container: Record<string, unknown>; expected: string[] }[] = [
      { name: "command then args", container: { command: ["node", "server.js"], args: ["--verbose"] }, expected: ["node", "server.js", "--verbose"] },
      {
        name: "each word expanded against the final environment; undefined and escaped references stay literal",
        container: {
          command: ["node", "$(ENTRY)"],
          args: ["--port=$(PORT)", "--level=$(LOG_LEVEL)", "$(UNDEFINED)", "$$(ENTRY)", "$$"],
          ports: [{ name: "http", containerPort: 8080 }],
          envFrom: [{ configMapRef: { name: "web-config" } }],
          env: [{ name: "ENTRY", value: "main.js" }],
        },
        expected: ["node", "main.js", "--port=43000", "--level=debug", "$(UNDEFINED)", "$(ENTRY)", "$"],
      },
      { name: "a host process without a command has no argv", container: { command: undefined, args: ["--x"] }, expected: [] },
      { name: "an image without a command passes args to its entrypoint", container: { command: undefined, image: "nginx:1.27", args: ["-g", "daemon off;"] }, expected: ["-g", "daemon off;"] },
      { name: "an image with neither runs its entrypoint as is", container: { command: undefined, image: "nginx:1.27" }, expected: [] },
    ];
    it.each(cases)("$name", ({ container, expected }) => {
      expect(build(container, { hostPorts: { "app/http": 43000 } }).argv).toEqual(expected);
    });
  });
});

describe("Service discovery variables", () => {
  const routes = [
    { namespace: "shop", name: "redis-primary", ports: [{ name: "tcp-main", port: 6379, endpoints: [] }, { port: 16379, endpoints: [] }] },
    { namespace: "shop", name: "web", ports: [{ port: 80, endpoints: [] }] },
    { namespace: "shop", name: "peers", headless: true, ports: [{ port: 7000, endpoints: [] }] },
    { namespace: "other", name: "db", ports: [{ port: 5432, endpoints: [] }] },
  ].map((route) => serviceRouteSchema.parse(route));

  it("names them as the kubelet does, for the non-headless Services of the pod's namespace only", () => {
    expect(serviceEnvironment(routes, "shop", "10.0.0.7")).toEqual({
      REDIS_PRIMARY_SERVICE_HOST: "10.0.0.7",
      REDIS_PRIMARY_SERVICE_PORT: "6379",
      REDIS_PRIMARY_SERVICE_PORT_TCP_MAIN: "6379",
      REDIS_PRIMARY_PORT: "tcp://10.0.0.7:6379",
      REDIS_PRIMARY_PORT_6379_TCP: "tcp://10.0.0.7:6379",
      REDIS_PRIMARY_PORT_6379_TCP_PROTO: "tcp",
      REDIS_PRIMARY_PORT_6379_TCP_PORT: "6379",
      REDIS_PRIMARY_PORT_6379_TCP_ADDR: "10.0.0.7",
      REDIS_PRIMARY_PORT_16379_TCP: "tcp://10.0.0.7:16379",
      REDIS_PRIMARY_PORT_16379_TCP_PROTO: "tcp",
      REDIS_PRIMARY_PORT_16379_TCP_PORT: "16379",
      REDIS_PRIMARY_PORT_16379_TCP_ADDR: "10.0.0.7",
      WEB_SERVICE_HOST: "10.0.0.7",
      WEB_SERVICE_PORT: "80",
      WEB_PORT: "tcp://10.0.0.7:80",
      WEB_PORT_80_TCP: "tcp://10.0.0.7:80",
      WEB_PORT_80_TCP_PROTO: "tcp",
      WEB_PORT_80_TCP_PORT: "80",
      WEB_PORT_80_TCP_ADDR: "10.0.0.7",
    });
    expect(serviceEnvironment(routes, "empty", "10.0.0.7")).toEqual({});
    expect(serviceEnvironment(routes, "other", "fd00::2").DB_PORT).toBe("tcp://[fd00::2]:5432");
  });

  it("lose to the manifest's env and to the port variables, and can be referenced with $(VAR)", () => {
    // A Service called "port" gets PORT_PORT (its docker link), which is also the variable of a container port named "port".
    const portService = serviceRouteSchema.parse({ namespace: "shop", name: "port", ports: [{ port: 9000, endpoints: [] }] });
    const pod = podWith({
      ports: [{ name: "port", containerPort: 8080 }],
      env: [
        { name: "REDIS_PRIMARY_SERVICE_HOST", value: "redis.internal" },
        { name: "REDIS_URL", value: "redis://$(REDIS_PRIMARY_SERVICE_HOST):$(REDIS_PRIMARY_SERVICE_PORT)" },
      ],
    });
    const { env } = buildContainerEnv({
      pod,
      container: pod.spec.containers[0]!,
      hostPorts: { "app/port": 31000 },
      hostIP: "10.0.0.7",
      nodeName: "node-a",
      baseEnv: { PATH: "/usr/bin" },
      serviceEnv: serviceEnvironment([...routes, portService], "shop", "10.0.0.7"),
    });
    expect(env.REDIS_PRIMARY_SERVICE_HOST).toBe("redis.internal");
    expect(env.REDIS_URL).toBe("redis://redis.internal:6379");
    expect(env.WEB_SERVICE_PORT).toBe("80");
    expect(env.PORT_SERVICE_PORT).toBe("9000");
    expect(env.PORT_PORT).toBe("31000");
    expect(env.PORT).toBe("31000");
  });
});
