import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Hono } from "hono";

/**
 * The page's stylesheet and script: real files (no build step), read once,
 * served under a content-hashed URL so that browsers may keep them for a
 * year and still never run a stale script after an upgrade.
 */
const files = {
  "page.css": "text/css; charset=utf-8",
  "page.js": "text/javascript; charset=utf-8",
} as const;
type AssetName = keyof typeof files;

const loaded = Object.fromEntries(
  Object.keys(files).map((name) => {
    const body = readFileSync(new URL(`./assets/${name}`, import.meta.url));
    return [name, { body, hash: createHash("sha256").update(body).digest("hex").slice(0, 12) }];
  }),
) as Record<AssetName, { body: Buffer; hash: string }>;

export function assetUrl(name: AssetName): string {
  return `/assets/${name}?v=${loaded[name].hash}`;
}

export function assetRoutes(): Hono {
  const assets = new Hono();
  assets.get("/assets/:name", (c) => {
    const name = c.req.param("name");
    if (!Object.hasOwn(files, name)) return c.text("no such asset", 404);
    const asset = loaded[name as AssetName];
    const versioned = c.req.query("v") === asset.hash;
    c.header("content-type", files[name as AssetName]);
    c.header("x-content-type-options", "nosniff");
    c.header("cache-control", versioned ? "public, max-age=31536000, immutable" : "no-cache");
    c.header("etag", `"${asset.hash}"`);
    if (c.req.header("if-none-match") === `"${asset.hash}"`) return c.body(null, 304);
    return c.body(new Uint8Array(asset.body));
  });
  return assets;
}
