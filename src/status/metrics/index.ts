/** /metrics: one prom-client Registry per control plane, fed by the components' observers and read from the store at scrape time. */
export { Metrics, type MetricsSources } from "./metrics.ts";
export { readStoreSnapshot, type StoreSnapshot } from "./store-snapshot.ts";
