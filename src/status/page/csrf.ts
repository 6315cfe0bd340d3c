import { randomBytes } from "node:crypto";
import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { ForbiddenError } from "../../errors.ts";
import { sameSecret } from "../auth.ts";

/**
 * CSRF protection of the page's forms, two checks:
 * - double submit: a random per-browser token in a SameSite=Strict, HttpOnly
 *   cookie, echoed by each form as the hidden `csrf` field; another site can
 *   make a browser post but can neither read nor set the cookie;
 * - an `Origin` header, when the browser sends one, must be this server's.
 * The action's token (CAPSTAN_TOKEN) is checked after, as for the API.
 */
export const csrfCookie = "capstan_csrf";
const tokenPattern = /^[A-Za-z0-9_-]{32,64}$/;

/** The browser's token, set on first sight. Called while rendering any page that has forms. */
export function csrfToken(c: Context): string {
  const existing = getCookie(c, csrfCookie);
  if (existing && tokenPattern.test(existing)) return existing;
  const token = randomBytes(24).toString("base64url");
  setCookie(c, csrfCookie, token, { httpOnly: true, sameSite: "Strict", path: "/" });
  return token;
}

export function checkCsrf(c: Context, formField: string | undefined): void {
  const origin = c.req.header("origin");
  // Hosts, not whole origins: behind a proxy ending TLS the browser's https origin reaches this server as http.
  if (origin !== undefined && hostOf(origin) !== new URL(c.req.url).host) {
    throw new ForbiddenError(`refused: the form was posted from another origin (${origin.slice(0, 100)})`);
  }
  const cookie = getCookie(c, csrfCookie);
  if (!cookie || !formField || !sameSecret(formField, cookie)) {
    throw new ForbiddenError("refused: the form's CSRF token is missing or does not match this browser's; reload the page and try again");
  }
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null; // "null" (a sandboxed or privacy-stripped origin) is no origin of ours
  }
}
