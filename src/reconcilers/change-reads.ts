import type { DesiredStore } from "../desired/index.ts";

/** The reads `keysFor` makes, answered once per change for every reconciler that asks. */
const sharedReads = new Set<PropertyKey>(["getObject", "getObjectByUid", "listObjects"]);

/**
 * `store` with getObject, getObjectByUid and listObjects shared among the
 * reconcilers routing one change: a Pod's change made the Deployment,
 * ReplicaSet, DaemonSet, StatefulSet and Job controllers each read its owner
 * by uid, five reads of one row at the same moment. Made afresh for each
 * change, so nothing is kept longer than routing it takes; a failed read is
 * shared too (every reconciler asking logs it, as before).
 */
export function changeReads(store: DesiredStore): DesiredStore {
  const answers = new Map<string, Promise<unknown>>();
  // A Proxy rather than a subclass or a copy: stores keep private state (#pool), so every method must run on the store itself.
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!sharedReads.has(property)) return method.bind(target);
      return (...args: unknown[]) => {
        const id = `${String(property)} ${JSON.stringify(args)}`;
        let answer = answers.get(id);
        if (!answer) {
          answer = Promise.resolve(method.apply(target, args));
          answers.set(id, answer);
        }
        return answer;
      };
    },
  });
}
