import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.ts";

/**
 * Flags and environment → one typed config. Flags win over environment
 * variables, which win over defaults. Every field is documented in the README's
 * configuration reference; keep the two in step.
 */
export const upConfigSchema = z.strictObject({
  /** Local path or http(s) URL of the manifests repository; unset → the bundled examples-repo. */
  repo: z.string().min(1).optional(),
  branch: z.string().min(1).default("main"),
  /** Sub-directory of the repository that holds the manifests. */
  path: z.string().default(""),
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().min(1).default(join(homedir(), ".capstan")),
  /** PostgreSQL to use; unset → an embedded server under `<dataDir>/pg`. */
  databaseUrl: z.string().min(1).optional(),
  pollIntervalSeconds: z.coerce.number().positive().default(5),
  /** Shared secret for `POST /hooks/git`; unset → the webhook is disabled (404). */
  webhookSecret: z.string().min(1).optional(),
  gitUsername: z.string().min(1).optional(),
  gitPassword: z.string().min(1).optional(),
  gitToken: z.string().min(1).optional(),
  /** How the scheduler ranks nodes: "spread" (least allocated first) or "binpack" (most allocated first). */
  schedulerStrategy: z.enum(["spread", "binpack"]).default("spread"),
  /** Seconds a node may be NotReady/unreachable before its pods are evicted and replaced elsewhere. */
  evictionGraceSeconds: z.coerce.number().min(0).default(5),
  /** Seconds between full resyncs of every controller (besides the wake-ups on each change). */
  resyncIntervalSeconds: z.coerce.number().positive().default(30),
  /** Private key for SSH nodes whose manifest names no identityFile; unset → ~/.ssh/id_ed25519, then id_rsa. */
  sshKey: z.string().min(1).optional(),
  /**
   * Bearer token every action (rollback, sync now) requires, from the API or the
   * page's forms; unset → actions are disabled (403) and the page says so.
   */
  token: z.string().min(16).optional(),
  /** Push a revert commit when any workload's rollout fails, not only those annotated capstan.dev/auto-revert: "true". */
  autoRevert: z
    .enum(["true", "false", "1", "0"])
    .default("false")
    .transform((value) => value === "true" || value === "1"),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * PostgreSQL shared by several control planes (`--replicas-share`): all serve
   * the page and API, one elected leader runs sync, controllers and node links.
   * Unset → this process is the only control plane and always leads.
   */
  replicasShare: z.string().min(1).optional(),
  /** The URL other replicas and users reach this one's page and API at; unset → the listening address. */
  advertiseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** How long a leader's lease lasts after each renewal, by the database's clock. */
  leaseDurationSeconds: z.coerce.number().positive().default(4),
  /** How often the leader renews its lease, and the longest a follower waits between attempts. */
  leaseRenewIntervalSeconds: z.coerce.number().positive().default(1),
  /** A leader that could not renew for this long steps down; shorter than the lease, longer than the interval. */
  leaseRenewDeadlineSeconds: z.coerce.number().positive().default(3),
}).superRefine((config, context) => {
  if (config.leaseRenewIntervalSeconds >= config.leaseRenewDeadlineSeconds) {
    context.addIssue({ code: "custom", path: ["leaseRenewIntervalSeconds"], message: "must be shorter than the renew deadline" });
  }
  if (config.leaseRenewDeadlineSeconds >= config.leaseDurationSeconds) {
    context.addIssue({ code: "custom", path: ["leaseRenewDeadlineSeconds"], message: "must be shorter than the lease duration" });
  }
  if (config.replicasShare && config.databaseUrl && config.replicasShare !== config.databaseUrl) {
    context.addIssue({ code: "custom", path: ["replicasShare"], message: "names another database than DATABASE_URL; give one of them" });
  }
});

export type UpConfig = z.infer<typeof upConfigSchema>;
type UpConfigInput = z.input<typeof upConfigSchema>;

/** The environment variable behind each field. */
const environmentNames: Record<keyof UpConfigInput, string> = {
  repo: "CAPSTAN_REPO",
  branch: "CAPSTAN_BRANCH",
  path: "CAPSTAN_PATH",
  host: "CAPSTAN_HOST",
  port: "CAPSTAN_PORT",
  dataDir: "CAPSTAN_DATA_DIR",
  databaseUrl: "DATABASE_URL",
  pollIntervalSeconds: "CAPSTAN_POLL_INTERVAL",
  webhookSecret: "CAPSTAN_WEBHOOK_SECRET",
  gitUsername: "CAPSTAN_GIT_USERNAME",
  gitPassword: "CAPSTAN_GIT_PASSWORD",
  gitToken: "CAPSTAN_GIT_TOKEN",
  sshKey: "CAPSTAN_SSH_KEY",
  schedulerStrategy: "CAPSTAN_SCHEDULER_STRATEGY",
  evictionGraceSeconds: "CAPSTAN_EVICTION_GRACE",
  resyncIntervalSeconds: "CAPSTAN_RESYNC_INTERVAL",
  autoRevert: "CAPSTAN_AUTO_REVERT",
  token: "CAPSTAN_TOKEN",
  logLevel: "CAPSTAN_LOG_LEVEL",
  replicasShare: "CAPSTAN_REPLICAS_SHARE",
  advertiseUrl: "CAPSTAN_ADVERTISE_URL",
  leaseDurationSeconds: "CAPSTAN_LEASE_DURATION",
  leaseRenewIntervalSeconds: "CAPSTAN_LEASE_RENEW_INTERVAL",
  leaseRenewDeadlineSeconds: "CAPSTAN_LEASE_RENEW_DEADLINE",
};

export function loadUpConfig(flags: Partial<Record<keyof UpConfigInput, unknown>>, env: NodeJS.ProcessEnv = process.env): UpConfig {
  const merged: Record<string, unknown> = {};
  for (const [field, variable] of Object.entries(environmentNames)) {
    const value = flags[field as keyof UpConfigInput] ?? env[variable];
    if (value !== undefined && value !== "") merged[field] = value;
  }
  const parsed = upConfigSchema.safeParse(merged);
  if (!parsed.success) {
    // Name the flag and variable, never echo the value: it may be a credential.
    const issues = parsed.error.issues.map((issue) => {
      const field = String(issue.path[0] ?? "");
      const variable = environmentNames[field as keyof UpConfigInput];
      return `--${kebab(field)}${variable ? ` (${variable})` : ""}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${issues.join("\n  ")}`);
  }
  const config = parsed.data;
  // The shared database is the database: everything else reads databaseUrl.
  if (config.replicasShare) config.databaseUrl = config.replicasShare;
  config.dataDir = resolve(config.dataDir);
  if (config.repo && !/^https?:\/\//.test(config.repo)) config.repo = resolve(config.repo);
  if (config.sshKey) config.sshKey = resolve(config.sshKey);
  return config;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
