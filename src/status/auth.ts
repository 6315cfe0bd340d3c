import { timingSafeEqual } from "node:crypto";
import { ForbiddenError, UnauthorizedError } from "../errors.ts";

/**
 * The one check every action (rollback, sync now) passes, from the JSON API
 * (`Authorization: Bearer <token>`) or from the page's forms (a token field).
 * Reading needs no token; acting does, and without a configured token
 * (CAPSTAN_TOKEN) actions are disabled outright rather than left open.
 *
 * - no token configured → ForbiddenError (403): nobody may act here;
 * - none given → UnauthorizedError (401);
 * - a wrong one → ForbiddenError (403).
 */
export function authorizeAction(given: string | undefined, configured: string | undefined, what: string): void {
  if (!configured) throw new ForbiddenError(actionsDisabledMessage(what));
  if (!given) throw new UnauthorizedError(`${what} needs the control plane's token (Authorization: Bearer <CAPSTAN_TOKEN>)`);
  if (!sameSecret(given, configured)) throw new ForbiddenError(`${what} refused: the token does not match CAPSTAN_TOKEN`);
}

/** What the API answers and the page shows while no token is configured. */
export function actionsDisabledMessage(what = "actions"): string {
  return `${what} disabled: this control plane has no CAPSTAN_TOKEN, so actions are turned off`;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1];
}

/** Compared in constant time, as the webhook's signatures are. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
