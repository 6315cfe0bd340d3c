import type { Duplex } from "node:stream";
import ssh2, { type ClientChannel } from "ssh2";
import {
  AgentUnavailableError,
  ConfigError,
  HostKeyMismatchError,
  NodeUnreachableError,
  TransportClosedError,
  messageOf,
} from "../../errors.ts";
import { type Logger, silentLogger } from "../../logging.ts";
import { describeHostKey, hostKeyAlgorithmsFor, parsePinnedHostKey } from "./host-key.ts";
import {
  type AgentLocation,
  type AgentTransport,
  type HostKeyInfo,
  abortable,
  agentConnectCommand,
  agentSocketPath,
  agentStartCommand,
} from "./transport.ts";

// ssh2 is CommonJS whose named exports Node cannot detect: take them from the default export.
const { Client, utils } = ssh2;

export interface SshTransportOptions {
  node: string;
  address: string;
  port: number;
  user: string;
  /** OpenSSH or PEM private key text. Never logged, never part of an error. */
  privateKey: Buffer | string;
  /** The node's host key as an OpenSSH line ("ssh-ed25519 AAAA…"; a known_hosts line works too). Without it the first key seen is trusted. */
  pinnedHostKey?: string;
  /**
   * Without a pin: the fingerprint ("SHA256:…") a previous connection trusted on first use, so that a
   * control-plane restart does not trust a new key again. The first key seen is kept for the transport's life too.
   */
  knownFingerprint?: string;
  location: AgentLocation;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
  /** How long `serve --daemon` may take before the start counts as failed. */
  agentStartTimeoutMs?: number;
  log?: Logger;
}

/** SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 §5.1). */
const OPEN_ADMINISTRATIVELY_PROHIBITED = 1;
const OPEN_CONNECT_FAILED = 2;

/** One live SSH connection and what was learned on it. */
interface Connection {
  client: ssh2.Client;
  /** sshd refused direct-streamlocal channels: every stream is an exec of `agent connect`. */
  forwardingProhibited: boolean;
  /** A running `serve --daemon`, shared by concurrent open() calls that found no agent. */
  agentStart: Promise<void> | undefined;
  /** Set once the connection is gone (lost, or ended by close()). */
  lost: boolean;
  closed: Promise<void>;
}

/**
 * One SSH connection per node, kept open with keepalives; every stream to the
 * agent is a channel on it (≈1.5 ms) rather than a new exec (≈150 ms). The
 * agent is started on demand by a `serve --daemon` exec when its socket does
 * not answer.
 */
export function createSshTransport(options: SshTransportOptions): AgentTransport {
  const { node, address, port, location } = options;
  const log = (options.log ?? silentLogger).child({ node, address, port });
  const pinned = options.pinnedHostKey === undefined ? undefined : parsePinnedHostKey(node, options.pinnedHostKey);
  const socketPath = agentSocketPath(location.stateDir);
  const disconnectListeners = new Set<(error?: Error) => void>();
  const streams = new Set<Duplex>();
  /** The live connection or the attempt under way; concurrent open() calls share it. */
  let connection: Promise<Connection> | undefined;
  let hostKey: HostKeyInfo | undefined;
  /** Without a pin: the key trusted on first use (or recorded by an earlier connection), required from then on. */
  let trustedFingerprint = options.knownFingerprint;
  let closed = false;

  const unreachable = (message: string, cause?: unknown) => new NodeUnreachableError(node, address, port, message, { cause });

  function connect(): Promise<Connection> {
    const startedAt = Date.now();
    let privateKey: Buffer | string;
    try {
      privateKey = checkedPrivateKey(node, options.privateKey);
    } catch (error) {
      return Promise.reject(error);
    }
    const client = new Client();
    let presented: HostKeyInfo | undefined;
    let presentedBlob: Buffer | undefined;
    let ready = false;
    let lastError: Error | undefined;
    let resolveClosed!: () => void;
    const conn: Connection = {
      client,
      forwardingProhibited: false,
      agentStart: undefined,
      lost: false,
      closed: new Promise((resolve) => (resolveClosed = resolve)),
    };

    return new Promise<Connection>((resolve, reject) => {
      const failConnect = (error: Error | undefined) => {
        if (pinned && presented && presentedBlob && !pinned.blob.equals(presentedBlob)) {
          reject(new HostKeyMismatchError(node, pinned.fingerprint, presented.fingerprint));
        } else if (!pinned && presented && trustedFingerprint !== undefined && trustedFingerprint !== presented.fingerprint) {
          reject(new HostKeyMismatchError(node, trustedFingerprint, presented.fingerprint));
        } else {
          reject(unreachable(messageOf(error ?? "connection closed during the handshake"), error));
        }
      };
      const lost = (error?: Error) => {
        if (!ready || conn.lost) return;
        conn.lost = true;
        // The next open() reconnects. Only a live connection can be lost, and while one is live it is `connection`.
        connection = undefined;
        if (closed) return;
        log.warn({ err: error?.message }, "ssh connection lost");
        for (const listener of [...disconnectListeners]) listener(error);
      };

      client.on("error", (error: Error) => {
        lastError = error;
        if (ready) lost(error);
        client.end();
      });
      client.on("end", () => lost(lastError));
      client.on("close", () => {
        resolveClosed();
        if (ready) lost(lastError);
        else failConnect(lastError);
        conn.lost = true;
      });
      client.once("ready", () => {
        ready = true;
        hostKey = presented;
        if (!pinned && presented) trustedFingerprint ??= presented.fingerprint;
        log.info(
          { ms: Date.now() - startedAt, hostKey: presented?.fingerprint, trustedOnFirstUse: presented?.trustedOnFirstUse },
          "ssh connected",
        );
        if (presented?.trustedOnFirstUse) log.warn({ hostKey: presented.line }, "no host key pinned; trusting the key presented");
        resolve(conn);
      });

      try {
        client.connect({
          host: address,
          port,
          username: options.user,
          privateKey,
          keepaliveInterval: options.keepaliveIntervalMs ?? 5_000,
          keepaliveCountMax: options.keepaliveCountMax ?? 3,
          readyTimeout: options.readyTimeoutMs ?? 10_000,
          // With a pin, ask only for that key's type: a host with several keys would otherwise present another and "mismatch".
          ...(pinned ? { algorithms: { serverHostKey: hostKeyAlgorithmsFor(pinned.type) } } : {}),
          hostVerifier: (blob: Buffer) => {
            presentedBlob = blob;
            presented = describeHostKey(blob, pinned === undefined);
            if (pinned) return pinned.blob.equals(blob);
            // Trust on FIRST use only: once a key was seen (by this transport or recorded before), it is the pin.
            return trustedFingerprint === undefined || trustedFingerprint === presented.fingerprint;
          },
        });
      } catch (error) {
        reject(unreachable(messageOf(error), error));
      }
    });
  }

  function ensureConnected(): Promise<Connection> {
    if (closed) return Promise.reject(new TransportClosedError(node));
    if (!connection) {
      const attempt = connect();
      connection = attempt;
      // A failed attempt is forgotten so the next open() tries again.
      attempt.catch(() => {
        if (connection === attempt) connection = undefined;
      });
    }
    return connection;
  }

  /** Runs one command over an exec channel; resolves with its output once it exits. */
  function run(conn: Connection, command: string, timeoutMs: number): Promise<{ code: number | null; signal?: string; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      conn.client.exec(command, (error, channel) => {
        if (error) return reject(error);
        let stdout = "";
        let stderr = "";
        let exit: { code: number | null; signal?: string } | undefined;
        channel.setEncoding("utf8");
        channel.stderr.setEncoding("utf8");
        channel.on("data", (chunk: string) => (stdout += chunk));
        channel.stderr.on("data", (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => {
          channel.close();
          reject(new Error(`\`${command}\` did not finish within ${timeoutMs} ms; stderr: ${stderr.trim()}`));
        }, timeoutMs);
        let graceTimer: NodeJS.Timeout | undefined;
        channel.on("exit", (code: number | null, signal?: string) => {
          exit = { code, ...(signal ? { signal } : {}) };
          // sshd keeps the channel until every holder of the session's stdio closes it; a daemon that kept them must not stall us.
          graceTimer = setTimeout(() => channel.close(), 1_000);
        });
        channel.on("close", () => {
          clearTimeout(timer);
          clearTimeout(graceTimer);
          resolve({ ...(exit ?? { code: null }), stdout, stderr });
        });
      });
    });
  }

  function startAgent(conn: Connection): Promise<void> {
    conn.agentStart ??= (async () => {
      const command = agentStartCommand(location);
      const startedAt = Date.now();
      let result;
      try {
        result = await run(conn, command, options.agentStartTimeoutMs ?? 30_000);
      } catch (error) {
        if (conn.lost) throw unreachable(messageOf(error), error);
        throw new AgentUnavailableError(node, `cannot start the agent: ${messageOf(error)}`, { cause: error });
      }
      if (result.code !== 0) {
        const how = result.signal ? `signal ${result.signal}` : `code ${result.code}`;
        throw new AgentUnavailableError(node, `\`${command}\` exited with ${how}: ${result.stderr.trim() || result.stdout.trim()}`);
      }
      log.info({ ms: Date.now() - startedAt }, "agent started");
    })().finally(() => {
      conn.agentStart = undefined;
    });
    return conn.agentStart;
  }

  function forward(conn: Connection): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      try {
        conn.client.openssh_forwardOutStreamLocal(socketPath, (error, channel) => (error ? reject(error) : resolve(channel)));
      } catch (error) {
        reject(error); // "Not connected": the connection went away just now
      }
    });
  }

  /** Fallback when sshd forbids stream forwarding: an exec bridging stdio to the socket, starting the agent first. */
  function execBridge(conn: Connection): Promise<ClientChannel> {
    const command = `${agentStartCommand(location)} 1>&2 && exec ${agentConnectCommand(location)}`;
    return new Promise((resolve, reject) => {
      conn.client.exec(command, (error, channel) => {
        if (error) return reject(error);
        let stderr = "";
        channel.stderr.setEncoding("utf8");
        channel.stderr.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
        channel.on("exit", (code: number | null) => {
          if (code !== 0) log.warn({ code, stderr: stderr.trim() }, "agent bridge exited");
        });
        resolve(channel);
      });
    });
  }

  async function openStream(): Promise<Duplex> {
    const conn = await ensureConnected();
    const channelFailure = (error: unknown) =>
      conn.lost ? unreachable(messageOf(error), error) : new AgentUnavailableError(node, messageOf(error), { cause: error });
    const bridge = () => execBridge(conn).catch((error) => Promise.reject(channelFailure(error)));
    const useBridge = (why: string) => {
      log.warn({ why }, "sshd refuses stream forwarding; each stream is an exec of `agent connect`");
      conn.forwardingProhibited = true;
      return bridge();
    };
    if (conn.forwardingProhibited) return bridge();

    try {
      return await forward(conn);
    } catch (error) {
      const reason = reasonOf(error);
      if (reason === OPEN_ADMINISTRATIVELY_PROHIBITED) return useBridge("administratively prohibited");
      if (reason !== OPEN_CONNECT_FAILED || conn.lost) throw channelFailure(error);
    }
    // The socket is missing or refuses: most likely the agent is not running.
    await startAgent(conn);
    try {
      return await forward(conn);
    } catch (error) {
      const reason = reasonOf(error);
      // OpenSSH answers a refused direct-streamlocal with the same "open failed" (CONNECT_FAILED) as a missing
      // socket. `serve --daemon` just reported the agent listening, so it is sshd that refuses.
      if ((reason === OPEN_CONNECT_FAILED || reason === OPEN_ADMINISTRATIVELY_PROHIBITED) && !conn.lost) {
        return useBridge("forwarding fails although the agent listens");
      }
      throw channelFailure(error);
    }
  }

  return {
    async open(signal?: AbortSignal): Promise<Duplex> {
      const stream = await abortable(openStream(), signal, (late) => late.destroy());
      if (closed) {
        stream.destroy();
        throw new TransportClosedError(node);
      }
      streams.add(stream);
      stream.once("close", () => streams.delete(stream));
      return stream;
    },
    get hostKey() {
      return hostKey;
    },
    onDisconnect(listener) {
      disconnectListeners.add(listener);
      return () => disconnectListeners.delete(listener);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const stream of streams) {
        stream.destroy();
        // An ssh2 channel emits 'close' only after 'end', which waits for its unread data to be consumed: drop it.
        stream.resume();
      }
      const pending = connection;
      connection = undefined;
      const conn = await pending?.catch(() => undefined);
      if (conn) {
        conn.client.end();
        await conn.closed;
      }
    },
  };
}

function reasonOf(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { reason?: unknown }).reason : undefined;
}

/** Parses the key up front so a bad key is a configuration error with a message that cannot contain it. */
function checkedPrivateKey(node: string, privateKey: Buffer | string): Buffer | string {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new ConfigError(`node ${node}: the SSH private key cannot be used: ${parsed.message}`);
  return privateKey;
}
