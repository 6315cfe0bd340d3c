/**
 * Real OpenSSH servers for tests: `/usr/sbin/sshd -D -e` on a loopback
 * address (127.0.0.2, 127.0.0.3, ... are all loopback on Linux, so each
 * server looks like a different node), with a fresh ed25519 host key per
 * server and one client key pair per test process authorized on all of them.
 *
 * Everything a server creates lives in its own temp dir (the client key
 * included: a copy per server); `stop()` kills the listener and its
 * per-connection children and removes the dir. Exit and SIGTERM handlers do
 * the same for servers a failed or timed-out test left running.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const sshdPath = "/usr/sbin/sshd";
const privilegeSeparationDir = "/run/sshd";
const execFileAsync = promisify(execFile);

export interface SshdOptions {
  /** A loopback address such as 127.0.0.2. */
  address: string;
  /** Default: a free port on `address`. */
  port?: number;
  /** Default true; false makes sshd refuse `direct-streamlocal` channels (administratively prohibited). */
  allowStreamLocalForwarding?: boolean;
}

export interface SshClientKey {
  privateKeyPath: string;
  /** OpenSSH public line, "ssh-ed25519 AAAA… comment". */
  publicKey: string;
}

export interface SshdServer {
  readonly address: string;
  readonly port: number;
  /** The server's public host key as an OpenSSH line, "ssh-ed25519 AAAA…". */
  readonly hostKey: string;
  /** "SHA256:…" exactly as `ssh-keygen -lf` prints it. */
  readonly hostKeyFingerprint: string;
  /** The one key pair of this test process, accepted by every server (for any user); the private key is a copy in this server's dir. */
  readonly clientKey: SshClientKey;
  /** sshd's stderr so far (LogLevel VERBOSE): "Accepted publickey …" once per authenticated connection. */
  log(): string;
  /** Pids of the per-connection sshd processes (direct children of the listener). */
  connectionPids(): number[];
  /** SIGKILLs every per-connection sshd process and its descendants, like a dropped connection; the listener stays. */
  killConnections(): Promise<void>;
  /** Kills the listener and every connection but keeps the keys and config: the host is gone. */
  down(): Promise<void>;
  /** Starts the listener again on the same port with the same host key: the host is back. */
  up(): Promise<void>;
  /** Kills the listener and every connection, removes the temp dir. */
  stop(): Promise<void>;
}

/** Throws a clear message when OpenSSH's server is not installed. */
export function requireSshd(): void {
  if (!existsSync(sshdPath)) {
    throw new Error("sshd is missing: apt-get install openssh-server — bash .ci/run does");
  }
}

// ------------------------------------------------------------ client key

let clientKeyPair: Promise<{ privateKey: string; publicKey: string }> | undefined;

/**
 * One client key pair per test process, kept in memory: each server writes
 * it into its own temp dir, so nothing outlives stop() — vitest ends its
 * workers with SIGTERM, and an 'exit' handler would never run.
 */
function sharedClientKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  clientKeyPair ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "capstan-test-ssh-client-"));
    try {
      const path = join(dir, "id_ed25519");
      await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "capstan-test-client", "-f", path]);
      return { privateKey: await readFile(path, "utf8"), publicKey: (await readFile(`${path}.pub`, "utf8")).trim() };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return clientKeyPair;
}

// ------------------------------------------------------------ cleanup

/** Listeners still running, with their temp dirs. */
const running = new Map<ChildProcess, string>();

function killEverythingNow(): void {
  for (const [listener, dir] of running) {
    if (listener.pid !== undefined) {
      for (const pid of descendantsOf(listener.pid)) tryKill(pid);
      tryKill(listener.pid);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  running.clear();
}

/** SIGTERM (how vitest ends a worker, e.g. after a timeout) skips 'exit' handlers: clean up, then die of it as before. */
function onSigterm(): void {
  killEverythingNow();
  process.off("SIGTERM", onSigterm);
  process.kill(process.pid, "SIGTERM");
}

function track(listener: ChildProcess, dir: string): void {
  if (running.size === 0) {
    process.on("exit", killEverythingNow);
    process.on("SIGTERM", onSigterm);
  }
  running.set(listener, dir);
}

function untrack(listener: ChildProcess): void {
  if (!running.delete(listener) || running.size > 0) return;
  process.off("exit", killEverythingNow);
  process.off("SIGTERM", onSigterm);
}

// ------------------------------------------------------------ servers

export async function startSshd(options: SshdOptions): Promise<SshdServer> {
  requireSshd();
  mkdirSync(privilegeSeparationDir, { recursive: true, mode: 0o755 });
  const client = await sharedClientKeyPair();
  const dir = await mkdtemp(join(tmpdir(), "capstan-test-sshd-"));
  let listener: ChildProcess | undefined;
  try {
    const privateKeyPath = join(dir, "client_id_ed25519");
    const authorizedKeysPath = join(dir, "authorized_keys");
    await writeFile(privateKeyPath, client.privateKey, { mode: 0o600 });
    await writeFile(authorizedKeysPath, `${client.publicKey}\n`, { mode: 0o600 });
    const hostKeyPath = join(dir, "ssh_host_ed25519_key");
    await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `capstan-test-host-${options.address}`, "-f", hostKeyPath]);
    const hostKey = (await readFile(`${hostKeyPath}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
    const { stdout: fingerprintLine } = await execFileAsync("ssh-keygen", ["-lf", `${hostKeyPath}.pub`]);
    const hostKeyFingerprint = fingerprintLine.trim().split(/\s+/)[1]!;

    const port = options.port ?? (await freePort(options.address));
    const configPath = join(dir, "sshd_config");
    await writeFile(
      configPath,
      [
        `ListenAddress ${options.address}:${port}`,
        `HostKey ${hostKeyPath}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${authorizedKeysPath}`,
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        `AllowStreamLocalForwarding ${options.allowStreamLocalForwarding === false ? "no" : "yes"}`,
        "AllowTcpForwarding yes",
        "MaxSessions 100",
        "MaxStartups 100",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "",
      ].join("\n"),
    );

    // The listener can be taken down and brought back (a host going away and returning) with the same port and host key.
    let stderr = "";
    let started!: ChildProcess;
    let exited!: Promise<void>;
    const launch = async () => {
      started = spawn(sshdPath, ["-D", "-e", "-f", configPath], { stdio: ["ignore", "ignore", "pipe"] });
      listener = started;
      track(started, dir);
      started.stderr!.setEncoding("utf8");
      started.stderr!.on("data", (chunk: string) => (stderr += chunk));
      const child = started;
      exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      await waitUntilListening(started, () => stderr, options.address, port);
    };
    const halt = async () => {
      if (started.exitCode === null && started.signalCode === null) {
        await killTree(started.pid!, { includeRoot: false });
        started.kill("SIGKILL");
        await exited;
      }
      untrack(started);
    };
    await launch();

    return {
      address: options.address,
      port,
      hostKey,
      hostKeyFingerprint,
      clientKey: { privateKeyPath, publicKey: client.publicKey },
      log: () => stderr,
      connectionPids: () => childrenOf(started.pid!),
      killConnections: async () => {
        await killTree(started.pid!, { includeRoot: false });
      },
      down: halt,
      up: async () => {
        if (started.exitCode === null && started.signalCode === null) return;
        await launch();
      },
      stop: async () => {
        await halt();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (listener) {
      if (listener.pid !== undefined) await killTree(listener.pid, { includeRoot: true });
      untrack(listener);
    }
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Binds on the address itself: a port free on 127.0.0.1 may be taken on 127.0.0.2. */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, address, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * sshd logs "Server listening on ADDRESS port PORT." right after listen(), so
 * the port accepts connections from then on. Waiting for the line instead of
 * probing keeps probe connections out of the log and the connection count.
 */
function waitUntilListening(child: ChildProcess, stderr: () => string, address: string, port: number, timeoutMs = 10_000): Promise<void> {
  const ready = `Server listening on ${address} port ${port}.`;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (stderr().includes(ready)) finish();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`sshd on ${address}:${port} exited early (${signal ?? `code ${code}`}):\n${stderr()}`));
    const onError = (error: Error) => finish(new Error(`cannot run ${sshdPath}: ${error.message}`));
    const timer = setTimeout(() => finish(new Error(`sshd on ${address}:${port} did not listen within ${timeoutMs} ms:\n${stderr()}`)), timeoutMs);
    function finish(error?: Error) {
      clearTimeout(timer);
      child.stderr!.off("data", check);
      child.off("exit", onExit);
      child.off("error", onError);
      if (error) reject(error);
      else resolve();
    }
    child.stderr!.on("data", check);
    child.once("exit", onExit);
    child.once("error", onError);
    check();
  });
}

// ------------------------------------------------------------ processes

interface ProcessEntry {
  ppid: number;
  /** Dead, waiting for its parent to reap it. */
  zombie: boolean;
}

function processTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      table.set(Number(entry), { ppid: Number(ppid), zombie: state === "Z" || state === "X" });
    } catch {
      // exited while we were reading
    }
  }
  return table;
}

/** Live (not zombie) children of `pid`. */
function childrenOf(pid: number): number[] {
  return [...processTable()].filter(([, entry]) => entry.ppid === pid && !entry.zombie).map(([child]) => child);
}

/** Every process under `root`, zombies included, parents before children. */
function descendantsOf(root: number, table = processTable()): number[] {
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [pid, entry] of table) {
      if (entry.ppid === parent) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * SIGKILLs the processes under `root` (and root itself if asked) leaves
 * first, and waits until their parents have reaped them. Killing a parent
 * before it reaps its children would hand the zombies to PID 1, which on
 * these machines never reaps them; an sshd monitor whose session child died
 * exits by itself, closing the TCP connection.
 */
async function killTree(root: number, options: { includeRoot: boolean }, timeoutMs = 5_000): Promise<void> {
  const startedAt = Date.now();
  for (;;) {
    const table = processTable();
    const tree = descendantsOf(root, table);
    if (options.includeRoot && table.has(root) && !table.get(root)!.zombie) tree.push(root);
    const live = tree.filter((pid) => !table.get(pid)!.zombie);
    const elapsedMs = Date.now() - startedAt;
    if (live.length === 0) {
      // The zombies left are root's to reap (or, past the deadline, nobody's).
      if (tree.every((pid) => table.get(pid)!.ppid === root) || elapsedMs > timeoutMs) return;
    } else if (elapsedMs > timeoutMs) {
      throw new Error(`processes ${live.join(", ")} under ${root} survived SIGKILL`);
    }
    const hasChildren = new Set(tree.map((pid) => table.get(pid)!.ppid));
    // Past a second, a parent is not reaping: stop being gentle.
    const victims = elapsedMs > 1_000 ? live : live.filter((pid) => !hasChildren.has(pid));
    for (const pid of victims) tryKill(pid);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The Node manifest for a test sshd server running this checkout's capstan-agent with its own state dir. */
export function sshNodeManifest(name: string, sshd: SshdServer, agent: { stateDir: string; agentCommand: string }): string {
  return `apiVersion: capstan.dev/v1
kind: Node
metadata:
  name: ${name}
spec:
  address: ${sshd.address}
  port: ${sshd.port}
  user: root
  identityFile: ${sshd.clientKey.privateKeyPath}
  hostKey: "${sshd.hostKey}"
  agentPath: "${agent.agentCommand}"
  stateDir: ${agent.stateDir}
`;
}
