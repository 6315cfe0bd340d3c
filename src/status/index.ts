export { createStatusApp, listen, type RunningServer, type StatusServerOptions } from "./server.ts";
export { apiRoutes, leadershipSchema, revisionListSchema, statusSchema, type Leadership } from "./api.ts";
export { nodeListSchema, nodeListItems, nodeRoutes, type NodeList, type LogSource } from "./nodes-api.ts";
export { podListSchema, workloadSummarySchema, nodeSummarySchema, type WorkloadSummary } from "./workloads.ts";
export { serviceListSchema, serviceSummarySchema, type ServiceSummary } from "./services.ts";
export { jobListSchema, jobSummaries, type JobSummary, type CronJobSummary } from "./jobs.ts";
export { historyListSchema, historyRoutes } from "./history-api.ts";
export { commitPlacementListSchema, commitPlacements, type CommitPlacement } from "./commits.ts";
export { LiveUpdates, ManualChangeFeed, pgChangeFeed, changeMessageSchema, type ChangeFeed, type ChangeMessage } from "./live/index.ts";
