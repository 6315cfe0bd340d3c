import type { MiddlewareHandler } from "hono";
import { NONCE, secureHeaders, type SecureHeadersVariables } from "hono/secure-headers";

export type PageEnv = { Variables: SecureHeadersVariables };

/**
 * Headers of every HTML answer: a strict CSP whose only script is the one
 * carrying this response's nonce (a fresh one each time), no framing, no
 * plugins, forms posting only here. Referrer-Policy is same-origin, not
 * no-referrer: under no-referrer a browser sends `Origin: null` on a
 * same-origin form POST, which the CSRF check would have to refuse.
 */
const securityHeaders: MiddlewareHandler<PageEnv> = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE],
    styleSrc: ["'self'"],
    connectSrc: ["'self'"],
    imgSrc: ["'self'", "data:"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
  referrerPolicy: "same-origin",
  xFrameOptions: "DENY",
  // Served over plain HTTP on a LAN as often as behind TLS; HSTS is the proxy's business.
  strictTransportSecurity: false,
});

/** The security headers, and no caching: a page is a moment's state, and carries the browser's CSRF token. */
export const pageSecurityHeaders: MiddlewareHandler<PageEnv> = async (c, next) => {
  await securityHeaders(c, next);
  c.header("cache-control", "no-store");
};

/** The nonce the CSP header names, for the page's one script tag. */
export function nonceOf(c: { get(key: "secureHeadersNonce"): string | undefined }): string {
  const nonce = c.get("secureHeadersNonce");
  if (!nonce) throw new Error("page rendered without the security-headers middleware");
  return nonce;
}
