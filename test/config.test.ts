import { describe, expect, it } from "vitest";
import { loadUpConfig } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";

const shared = "postgres://capstan:secret@db.example:5432/capstan";

describe("loadUpConfig: several control planes", () => {
  it("runs alone by default, with a 4 s lease renewed every second", () => {
    const config = loadUpConfig({}, {});
    expect(config.replicasShare).toBeUndefined();
    expect(config).toMatchObject({ leaseDurationSeconds: 4, leaseRenewIntervalSeconds: 1, leaseRenewDeadlineSeconds: 3 });
  });

  it("takes --replicas-share (or CAPSTAN_REPLICAS_SHARE) as the database to use", () => {
    expect(loadUpConfig({ replicasShare: shared }, {})).toMatchObject({ replicasShare: shared, databaseUrl: shared });
    expect(loadUpConfig({}, { CAPSTAN_REPLICAS_SHARE: shared })).toMatchObject({ replicasShare: shared, databaseUrl: shared });
    expect(loadUpConfig({}, { CAPSTAN_REPLICAS_SHARE: shared, DATABASE_URL: shared }).databaseUrl).toBe(shared);
  });

  it("refuses a DATABASE_URL naming another database, without echoing either", () => {
    const attempt = () => loadUpConfig({ replicasShare: shared }, { DATABASE_URL: "postgres://other:hunter2@elsewhere/db" });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/--replicas-share \(CAPSTAN_REPLICAS_SHARE\): names another database than DATABASE_URL/);
    expect(attempt).not.toThrow(/secret|hunter2/);
  });

  it("takes the lease's figures from the environment", () => {
    const config = loadUpConfig({}, { CAPSTAN_LEASE_DURATION: "10", CAPSTAN_LEASE_RENEW_INTERVAL: "2", CAPSTAN_LEASE_RENEW_DEADLINE: "7" });
    expect(config).toMatchObject({ leaseDurationSeconds: 10, leaseRenewIntervalSeconds: 2, leaseRenewDeadlineSeconds: 7 });
  });

  it.each([
    ["a renew interval not shorter than the deadline", { CAPSTAN_LEASE_RENEW_INTERVAL: "3" }, /--lease-renew-interval-seconds \(CAPSTAN_LEASE_RENEW_INTERVAL\): must be shorter than the renew deadline/],
    ["a deadline not shorter than the lease", { CAPSTAN_LEASE_RENEW_DEADLINE: "4" }, /--lease-renew-deadline-seconds \(CAPSTAN_LEASE_RENEW_DEADLINE\): must be shorter than the lease duration/],
  ])("refuses %s", (_name, env, message) => {
    expect(() => loadUpConfig({}, env)).toThrow(message);
  });

  it("takes CAPSTAN_ADVERTISE_URL as where others reach this replica, and refuses anything but http(s)", () => {
    expect(loadUpConfig({}, { CAPSTAN_ADVERTISE_URL: "http://cp-1.internal:8080" }).advertiseUrl).toBe("http://cp-1.internal:8080");
    expect(() => loadUpConfig({}, { CAPSTAN_ADVERTISE_URL: "cp-1.internal:8080" })).toThrow(/--advertise-url \(CAPSTAN_ADVERTISE_URL\)/);
  });
});
