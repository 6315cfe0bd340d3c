/**
 * Annotations capstan itself reads on objects declared in Git.
 */

/**
 * `capstan.dev/prune: "false"` keeps a git-declared object live when a later
 * commit no longer declares it (Flux's and Argo CD's prune opt-out): it stays
 * as last applied, still git-sourced, instead of being deleted.
 */
export const pruneAnnotation = "capstan.dev/prune";
