/**
 * Credentials for an HTTP(S) Git remote. They travel only inside the
 * `Authorization` header that isomorphic-git builds from `onAuth`: never in a
 * URL we store or print, never in an error message.
 */
import type { AuthCallback, GitAuth as IsomorphicGitAuth } from "isomorphic-git";

export interface GitAuth {
  username?: string;
  password?: string;
  /** A personal access token (GitHub, Gitea, GitLab). */
  token?: string;
}

/**
 * Splits `https://user:secret@host/repo.git` into the URL without userinfo and
 * the credentials it carried. Anything that does not parse as a URL is returned
 * unchanged (a local path has no credentials).
 */
export function splitUrlCredentials(url: string): { url: string; auth: GitAuth | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, auth: undefined };
  }
  if (!parsed.username && !parsed.password) return { url, auth: undefined };
  const auth: GitAuth = {};
  if (parsed.username) auth.username = decodeURIComponent(parsed.username);
  if (parsed.password) auth.password = decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), auth };
}

/** The URL as it may be shown, logged and recorded. */
export function redactUrl(url: string): string {
  return splitUrlCredentials(url).url;
}

/**
 * What to send as HTTP basic credentials. A token alone goes as the username
 * with password `x-oauth-basic`, which GitHub and Gitea both accept; a token
 * with a username goes as the password (`oauth2` + token for GitLab, or the
 * account name for Gitea and GitHub fine-grained tokens).
 */
export function basicCredentials(auth: GitAuth): { username: string; password: string } | undefined {
  if (auth.token) {
    return auth.username
      ? { username: auth.username, password: auth.token }
      : { username: auth.token, password: "x-oauth-basic" };
  }
  if (auth.username || auth.password) return { username: auth.username ?? "", password: auth.password ?? "" };
  return undefined;
}

/**
 * isomorphic-git asks `onAuth` after a 401; on a second 401 it asks
 * `onAuthFailure`, and cancelling there turns the failure into an error
 * instead of a retry loop with the same wrong password.
 */
export function authCallbacks(auth: GitAuth | undefined): {
  onAuth?: AuthCallback;
  onAuthFailure?: AuthCallback;
} {
  const credentials = auth && basicCredentials(auth);
  if (!credentials) return {};
  return {
    onAuth: (): IsomorphicGitAuth => ({ ...credentials }),
    onAuthFailure: (): IsomorphicGitAuth => ({ cancel: true }),
  };
}

/** Every form in which a credential could appear in text we did not write (an error from a library). */
function secretForms(auth: GitAuth | undefined): string[] {
  if (!auth) return [];
  const values = [auth.password, auth.token];
  const credentials = basicCredentials(auth);
  if (credentials) {
    values.push(Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64"));
  }
  const forms = new Set<string>();
  for (const value of values) {
    if (!value || value === "x-oauth-basic") continue;
    forms.add(value);
    forms.add(encodeURIComponent(value));
  }
  // Longest first, so a secret containing another is removed whole.
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * Removes URL userinfo and every known credential from a message. A plain
 * username stays ("user alice" in an error is useful and not a secret); a
 * token stays out whichever field carries it.
 */
export function redactText(text: string, auth: GitAuth | undefined): string {
  let redacted = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, "$1");
  for (const secret of secretForms(auth)) redacted = redacted.split(secret).join("[redacted]");
  return redacted;
}
