import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { AgentUnavailableError } from "../../errors.ts";
import { createLocalTransport } from "./local-transport.ts";
import type { NodeObject } from "./node-manager.ts";
import { createSshTransport } from "./ssh-transport.ts";
import type { AgentTransport } from "./transport.ts";

export const defaultAgentStateDir = "/var/lib/capstan-agent";

export interface TransportDefaults {
  /** The local node's agent: its state dir and the command that runs it on this host. */
  local: { stateDir: string; agentCommand: string };
  /** Private key used for SSH nodes that name no identityFile; default ~/.ssh/id_ed25519, then id_rsa. */
  sshKeyPath?: string;
  log: Logger;
}

/** The control plane's transport for a Node: the unix socket for `transport: local`, else one SSH connection. */
export function transportFactory(defaults: TransportDefaults): (node: NodeObject) => AgentTransport {
  return (node) => {
    const log = defaults.log.child({ node: node.name });
    if (node.spec.transport === "local") {
      return createLocalTransport({ location: { stateDir: node.spec.stateDir ?? defaults.local.stateDir, agentCommand: node.spec.agentPath ?? defaults.local.agentCommand }, log });
    }
    const keyPath = node.spec.identityFile ?? defaults.sshKeyPath;
    let transport: AgentTransport | undefined;
    let failure: Error | undefined;
    const ready = readPrivateKey(keyPath).then(
      (privateKey) => {
        transport = createSshTransport({
          node: node.name,
          address: node.spec.address,
          port: node.spec.port,
          user: node.spec.user,
          privateKey,
          pinnedHostKey: node.spec.hostKey,
          // Trust on first use survives a control-plane restart: the fingerprint recorded in the Node's status.
          knownFingerprint: node.spec.hostKey ? undefined : (node.status as { hostKey?: { fingerprint?: string } | null }).hostKey?.fingerprint,
          location: { stateDir: node.spec.stateDir ?? defaultAgentStateDir, agentCommand: node.spec.agentPath ?? "capstan-agent" },
          log,
        });
      },
      (error: Error) => (failure = new AgentUnavailableError(node.name, error.message)),
    );
    const listeners = new Set<(error?: Error) => void>();
    // The key is read once, lazily; until then (or when it cannot be read) the transport reports why.
    return {
      async open(signal) {
        await ready;
        if (failure) throw failure;
        for (const listener of listeners) transport!.onDisconnect(listener);
        listeners.clear();
        return transport!.open(signal);
      },
      get hostKey() {
        return transport?.hostKey;
      },
      onDisconnect(listener) {
        if (transport) return transport.onDisconnect(listener);
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      async close() {
        await ready;
        await transport?.close();
      },
    };
  };
}

async function readPrivateKey(path: string | undefined): Promise<Buffer> {
  const candidates = path ? [path] : [join(homedir(), ".ssh", "id_ed25519"), join(homedir(), ".ssh", "id_rsa")];
  for (const candidate of candidates) {
    try {
      return await readFile(candidate);
    } catch (error) {
      if (path) throw new Error(`cannot read the SSH identity file ${candidate}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  throw new Error(`no SSH identity: set identityFile on the Node or CAPSTAN_SSH_KEY (looked for ${candidates.join(", ")})`);
}
