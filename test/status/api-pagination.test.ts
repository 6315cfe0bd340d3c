import { beforeAll, describe, expect, it } from "vitest";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, eventListSchema, revisionDetailSchema, revisionListSchema } from "../../src/status/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * Paging of GET /api/events and GET /api/revisions on real PostgreSQL: the
 * `before` cursor walks every item exactly once, newest first, whatever the
 * page size (events sharing a timestamp included), and limits out of 1..500
 * or cursors that are not positive integers are refused with 400 naming them.
 */

const database = useTestDatabase();
let app: ReturnType<typeof createStatusApp>;
const eventCount = 137;
const revisionCount = 23;

beforeAll(async () => {
  const store = new PgDesiredStore(database().pool);
  app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, rollouts: new PgRolloutLog(database().pool) });
  const base = Date.parse("2026-11-23T12:00:00Z");
  for (let index = 0; index < eventCount; index++) {
    // Three events per second, recorded out of order: the cursor must break ties by id and not lose any.
    const second = (index * 7) % Math.ceil(eventCount / 3);
    await store.recordEvent({
      kind: index % 2 === 0 ? "Pod" : "Deployment",
      namespace: "default",
      name: `object-${index % 5}`,
      type: "Normal",
      reason: "Tested",
      message: `event ${index}`,
      source: "test",
      at: new Date(base + second * 1000),
    });
  }
  for (let index = 0; index < revisionCount; index++) {
    const sha = `${index < 2 ? "abcd" : "ef01"}${index.toString(16).padStart(4, "0")}`.padEnd(40, "0");
    await store.applyRevision({ sha, parentSha: null, authorName: "Ada", authorEmail: "ada@example.com", message: `commit ${index}`, committedAt: new Date(base + index * 1000) }, [], []);
  }
});

/** Every id in the store's own order: what a walk over all pages must give back. */
async function expectedEventIds(kind?: string): Promise<number[]> {
  const result = await database().pool.query("SELECT id FROM events WHERE $1::text IS NULL OR kind = $1 ORDER BY last_time DESC, id DESC", [kind ?? null]);
  return result.rows.map((row) => Number(row.id));
}

async function walk<Item extends { id: number }>(path: (before: number | null) => string, parse: (body: unknown) => { items: Item[]; next: number | null }, limit: number): Promise<number[]> {
  const seen: number[] = [];
  let before: number | null = null;
  for (let pages = 0; pages < 1_000; pages++) {
    const response = await app.request(path(before));
    expect(response.status).toBe(200);
    const page = parse(await response.json());
    expect(page.items.length).toBeLessThanOrEqual(limit);
    // `next` promised more: no empty trailing page.
    if (before !== null) expect(page.items.length).toBeGreaterThan(0);
    seen.push(...page.items.map((item) => item.id));
    if (page.next === null) return seen;
    expect(page.items.length).toBe(limit);
    expect(page.next).toBe(page.items.at(-1)!.id);
    before = page.next;
  }
  throw new Error("the walk did not end");
}

describe("GET /api/events paging", () => {
  it.each([1, 7, 50, 136, 137, 138, 500])("walks every event exactly once, newest first, %i per page", async (limit) => {
    const ids = await walk((before) => `/api/events?limit=${limit}${before ? `&before=${before}` : ""}`, (body) => eventListSchema.parse(body), limit);
    const expected = await expectedEventIds();
    expect(expected).toHaveLength(eventCount);
    expect(ids).toEqual(expected);
  });

  it("walks a filtered listing exactly once too", async () => {
    const ids = await walk((before) => `/api/events?kind=Pod&limit=9${before ? `&before=${before}` : ""}`, (body) => eventListSchema.parse(body), 9);
    expect(ids).toEqual(await expectedEventIds("Pod"));
    expect(ids).toHaveLength(Math.ceil(eventCount / 2));
  });

  it("defaults to 50 per page", async () => {
    const page = eventListSchema.parse(await (await app.request("/api/events")).json());
    expect(page.items).toHaveLength(50);
    expect(page.next).toBe(page.items[49]!.id);
  });
});

describe("GET /api/revisions paging", () => {
  it.each([1, 4, 22, 23, 24])("walks every revision exactly once, newest first, %i per page", async (limit) => {
    const ids = await walk((before) => `/api/revisions?limit=${limit}${before ? `&before=${before}` : ""}`, (body) => revisionListSchema.parse(body), limit);
    const expected = (await database().pool.query("SELECT id FROM revisions ORDER BY id DESC")).rows.map((row) => Number(row.id));
    expect(expected).toHaveLength(revisionCount);
    expect(ids).toEqual(expected);
  });

  it("refuses an ambiguous sha prefix naming the candidates, and takes a longer one", async () => {
    const response = await app.request("/api/revisions/abcd");
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("abcd is ambiguous (abcd000100, abcd000000, …): give more digits");
    const one = revisionDetailSchema.parse(await (await app.request("/api/revisions/abcd0001")).json());
    expect(one.message).toBe("commit 1");
  });
});

describe("paging bounds", () => {
  it.each([
    ["limit=0", "limit"],
    ["limit=501", "limit"],
    ["limit=abc", "limit"],
    ["limit=1.5", "limit"],
    ["limit=-1", "limit"],
    ["limit=", "limit"],
    ["before=0", "before"],
    ["before=next", "before"],
    ["before=2.5", "before"],
  ])("refuses %s with 400 naming %s, on events and revisions alike", async (query, parameter) => {
    for (const path of ["/api/events", "/api/revisions"]) {
      const response = await app.request(`${path}?${query}`);
      expect(response.status, `${path}?${query}`).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(new RegExp(`^bad query parameters: ${parameter}: `));
    }
  });

  it("takes the bounds themselves, 1 and 500", async () => {
    for (const path of ["/api/events", "/api/revisions"]) {
      expect((await app.request(`${path}?limit=1`)).status).toBe(200);
      expect((await app.request(`${path}?limit=500`)).status).toBe(200);
    }
  });
});
