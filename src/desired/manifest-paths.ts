import ignoreModule from "ignore";

/**
 * Which files of a repository are manifests: `*.yaml`, `*.yml` and `*.json`,
 * except under a dot-directory or matched by `.capstanignore` at the root.
 */

export const ignoreFileName = ".capstanignore";

export interface IgnoreMatcher {
  /** Whether a repo-relative POSIX path is excluded; a directory may be given with a trailing "/". */
  ignores(path: string): boolean;
}

/**
 * `.capstanignore` has .gitignore's syntax and meaning (globs, `dir/`, `#`
 * comments, `!` negation, and a file under an excluded directory cannot be
 * re-included), through the same `ignore` package isomorphic-git uses for
 * `.gitignore`, so that it behaves as users expect from Git.
 */
export function parseIgnoreFile(text: string): IgnoreMatcher {
  // A CommonJS module: under NodeNext its default import is `module.exports`, whose `default` is the factory.
  const rules = ignoreModule.default().add(text);
  return { ignores: (path) => rules.ignores(path) };
}

export const ignoreNothing: IgnoreMatcher = { ignores: () => false };

const manifestExtension = /\.(ya?ml|json)$/;

export function isManifestPath(path: string, ignoreMatcher: IgnoreMatcher = ignoreNothing): boolean {
  if (!manifestExtension.test(path)) return false;
  // Dot-directories hold tooling (.git, .github, .vscode), and dot-files such as
  // .gitlab-ci.yml or .pre-commit-config.yaml are YAML that is not a manifest.
  if (path.split("/").some((segment) => segment.startsWith("."))) return false;
  return !ignoreMatcher.ignores(path);
}
