import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PodSpec } from "../../desired/index.ts";
import { writeFileAtomically } from "./atomic-file.ts";

/**
 * A pod's own hosts file, for `hostAliases`: the node's /etc/hosts (a host
 * process shares the node's network, as a hostNetwork pod does) followed by
 * the aliases, in the kubelet's format. Written to `<podDir>/etc-hosts`,
 * where the kubelet keeps its own; the process runtime binds it over
 * /etc/hosts where it can (root, in the pod's private mount namespace), the
 * docker runtime passes the aliases as --add-host instead, and every
 * container finds its path in CAPSTAN_HOSTS_FILE.
 */

/** The variable naming the pod's hosts file. Not glibc's HOSTALIASES, which maps dotless names to other names, never to addresses. */
export const hostsFileEnv = "CAPSTAN_HOSTS_FILE";

type HostAliases = NonNullable<PodSpec["hostAliases"]>;

/** The node's hosts file with the aliases appended (pure). */
export function hostsFileContent(nodeHosts: string, aliases: HostAliases): string {
  const base = nodeHosts === "" || nodeHosts.endsWith("\n") ? nodeHosts : `${nodeHosts}\n`;
  const lines = aliases.map((alias) => `${alias.ip}\t${alias.hostnames.join("\t")}`);
  return `${base}\n# Entries added by HostAliases.\n${lines.join("\n")}\n`;
}

/** Writes the pod's hosts file when it has aliases; its path, or undefined. */
export async function writePodHostsFile(podDir: string, spec: PodSpec, nodeHostsPath = "/etc/hosts"): Promise<string | undefined> {
  if (!spec.hostAliases || spec.hostAliases.length === 0) return undefined;
  // A node without /etc/hosts still resolves localhost through its resolver; the pod's file then holds the aliases alone.
  const nodeHosts = await readFile(nodeHostsPath, "utf8").catch(() => "");
  const path = join(podDir, "etc-hosts");
  await writeFileAtomically(path, Buffer.from(hostsFileContent(nodeHosts, spec.hostAliases), "utf8"), 0o644);
  return path;
}
