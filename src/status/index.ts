export { createStatusApp, listen, type RunningServer, type StatusServerOptions } from "./server.ts";
export { apiRoutes, revisionListSchema, statusSchema } from "./api.ts";
export { nodeListSchema, nodeRoutes, type NodeList, type LogSource } from "./nodes-api.ts";
export { podListSchema, workloadSummarySchema, nodeSummarySchema, type WorkloadSummary } from "./workloads.ts";
export { historyListSchema, historyRoutes } from "./history-api.ts";
export { commitPlacementListSchema, commitPlacements, type CommitPlacement } from "./commits.ts";
