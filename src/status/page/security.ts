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
export const pageSecurityHeaders: MiddlewareHandler<PageEnv> = secureHeaders({
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

/** The nonce the CSP header names, for the page's one script tag. */
export function nonceOf(c: { get(key: "secureHeadersNonce"): string | undefined }): string {
  const nonce = c.get("secureHeadersNonce");
  if (!nonce) throw new Error("page rendered without the security-headers middleware");
  return nonce;
}
