import type { Duplex } from "node:stream";

/**
 * How the control plane reaches one node's capstan-agent: a byte stream to the
 * agent's unix socket, over SSH for remote nodes (ssh-transport.ts) or
 * directly for the node the control plane runs on (local-transport.ts).
 * The protocol on top (protocol.ts) does not know which.
 */
export interface AgentTransport {
  /** A byte stream to the agent's unix socket; starts the agent first if it is not running. Reuses the one connection. */
  open(signal?: AbortSignal): Promise<Duplex>;
  /** What was learned about the host key on the last connect (shown in node status). */
  readonly hostKey: HostKeyInfo | undefined;
  /** Subscribes to the loss of the underlying connection (the client reconnects). Returns an unsubscribe. */
  onDisconnect(listener: (error?: Error) => void): () => void;
  close(): Promise<void>;
}

export interface HostKeyInfo {
  /** "SHA256:…" as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** OpenSSH public key line, "ssh-ed25519 AAAA…". */
  line: string;
  /** No key was pinned and this one was accepted as presented. */
  trustedOnFirstUse: boolean;
}

/** Where the agent lives on its host. */
export interface AgentLocation {
  stateDir: string;
  /** command that runs capstan-agent on that host, e.g. "capstan-agent" or "node /opt/capstan/bin/capstan-agent.js" */
  agentCommand: string;
}

export function agentSocketPath(stateDir: string): string {
  return `${stateDir}/agent.sock`;
}

/** Quotes one word for a POSIX shell: `'…'`, with each `'` written as `'\''`. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The shell command that starts the agent unless it already listens; exits 0 once it does. */
export function agentStartCommand(location: AgentLocation): string {
  return `${location.agentCommand} serve --daemon --state-dir ${shellQuote(location.stateDir)}`;
}

/** The shell command that bridges its stdio to the agent's socket. */
export function agentConnectCommand(location: AgentLocation): string {
  return `${location.agentCommand} connect --state-dir ${shellQuote(location.stateDir)}`;
}

/**
 * Rejects with the signal's reason once it aborts. The work itself goes on (a
 * connection attempt may be shared); what it yields after the abort is handed
 * to `discard` so nothing leaks.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, discard: (late: T) => void): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.then(discard, () => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) discard(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
