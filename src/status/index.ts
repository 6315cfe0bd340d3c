export { createStatusApp, listen, type RunningServer, type StatusServerOptions } from "./server.ts";
export { apiRoutes } from "./api.ts";
export { leadershipSchema, statusSchema, statusOverview, type Leadership, type StatusOverview } from "./status-overview.ts";
export { nodeRoutes, type LogSource } from "./nodes-api.ts";
export { nodeListSchema, nodeList, nodeSummary, type NodeList } from "./nodes.ts";
export { nodeDetailSchema, nodeDetail, type NodeDetail } from "./node-detail.ts";
export { podListSchema, podSummaries, workloadSummarySchema, workloadSummaries, workloadKinds, nodeSummarySchema, type WorkloadSummary, type WorkloadKind, type PodSummary } from "./workloads.ts";
export { workloadListSchema, workloadDetailSchema, workloadRolloutSchema, workloadDetail, type WorkloadDetail, type WorkloadKey } from "./workload-detail.ts";
export { conditionSchema, podDetailSchema, containerDetailSchema, podDetail, conditionsOf, type Condition, type PodDetail } from "./pod-detail.ts";
export { eventListSchema, eventQuerySchema, eventPage, recentEventsOf, type EventList, type EventPageQuery } from "./events.ts";
export { revisionListSchema, revisionQuerySchema, revisionDetailSchema, shaOrPrefixSchema, revisionPage, revisionDetail, type RevisionList, type RevisionDetail } from "./revisions.ts";
export { syncAcceptedSchema } from "./actions-api.ts";
export { parseInput, parseQuery } from "./request-input.ts";
export { serviceListSchema, serviceSummarySchema, type ServiceSummary } from "./services.ts";
export { jobListSchema, jobSummaries, type JobSummary, type CronJobSummary } from "./jobs.ts";
export { historyListSchema, historyRoutes } from "./history-api.ts";
export { commitPlacementListSchema, commitPlacements, type CommitPlacement } from "./commits.ts";
export { Metrics, type MetricsSources } from "./metrics/index.ts";
export { requestIdOf, type RequestVariables, type StatusEnv } from "./request-log.ts";
export { LiveUpdates, ManualChangeFeed, pgChangeFeed, changeChannelSchema, changeMessageSchema, type ChangeFeed, type ChangeMessage } from "./live/index.ts";
export {
  notificationListSchema,
  notificationDeliverySchema,
  notificationQuerySchema,
  notificationRoutes,
  recentNotifications,
  type NotificationDelivery,
  type NotificationList,
  type NotificationQuery,
  type NotificationSource,
} from "./notifications-api.ts";
