import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A tiny image with no registry behind it: Debian's statically linked busybox and its applets. */
export const TEST_IMAGE = "capstan-test/busybox:1";
/** Bumped whenever the rootfs below changes, so an older build of the same tag is replaced. */
const TEST_IMAGE_REVISION = "2";
const REVISION_LABEL = "capstan.test-image-revision";
const APPLETS = ["sh", "echo", "sleep", "cat", "env", "ls", "wget", "nc", "httpd", "true", "false", "kill", "ps", "mkdir", "touch", "id"];

/** Throws with what to do when no docker daemon answers. */
export async function requireDocker(): Promise<void> {
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 15_000 });
  } catch (error) {
    throw new Error(`docker is not running: install docker.io and start dockerd — bash .ci/run does both (${(error as Error).message.trim()})`);
  }
}

/** Builds TEST_IMAGE with `docker import` from /usr/bin/busybox (busybox-static), once. */
export async function ensureTestImage(): Promise<string> {
  await requireDocker();
  const revision = await run("docker", ["image", "inspect", "--format", `{{index .Config.Labels "${REVISION_LABEL}"}}`, TEST_IMAGE]).then(
    (result) => result.stdout.trim(),
    () => undefined,
  );
  if (revision === TEST_IMAGE_REVISION) return TEST_IMAGE;

  const dir = await mkdtemp(join(tmpdir(), "capstan-image-"));
  try {
    const rootfs = join(dir, "rootfs");
    await mkdir(join(rootfs, "bin"), { recursive: true });
    await mkdir(join(rootfs, "tmp"), { recursive: true, mode: 0o1777 });
    await mkdir(join(rootfs, "www"), { recursive: true });
    try {
      await copyFile("/usr/bin/busybox", join(rootfs, "bin", "busybox"));
    } catch (error) {
      throw new Error(`the docker test image needs a static /usr/bin/busybox (apt-get install busybox-static): ${(error as Error).message}`);
    }
    for (const applet of APPLETS) await symlink("busybox", join(rootfs, "bin", applet));
    const tarball = join(dir, "rootfs.tar");
    await run("tar", ["-C", rootfs, "-cf", tarball, "."]);
    await run(
      "docker",
      ["import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', "--change", `LABEL ${REVISION_LABEL}=${TEST_IMAGE_REVISION}`, tarball, TEST_IMAGE],
      { timeout: 120_000 },
    );
    return TEST_IMAGE;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes every container carrying `label=value` (afterEach: nothing a test started survives it). */
export async function removeLabelledContainers(label: string, value: string): Promise<void> {
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=${label}=${value}`]);
  const ids = stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await run("docker", ["rm", "-f", ...ids], { timeout: 60_000 });
}
