/**
 * The scheduler (DESIGN.md, data flow 4): pure decisions binding a pending
 * pod to a node through the chain of filters and scorers in stack.ts.
 * No store, no I/O: its caller builds the picture of the nodes with
 * newNodeInfo and books each decision into it with assumePod.
 */
export { schedule, type ScheduleOptions } from "./schedule.ts";
export { defaultStack, type SchedulingStrategy, type StackOptions } from "./stack.ts";
export { describeReasons } from "./reasons.ts";
export { podRequests, scoringRequests, podHostPorts } from "./requests.ts";
export { assumePod, newNodeInfo, nodeAllocatable, defaultMaxPods } from "./node-info.ts";
export { toleratesTaint } from "./tolerations.ts";
export type { NodeInfo, NodeFacts, PodSummary, PodToSchedule, ScheduleResult, NodeScore, Resources, Taint } from "./model.ts";
export type { Filter, Scorer, WeightedScorer, SchedulerStack, PreparedPod, NodeCheck, NodeRating } from "./framework.ts";
export { daemonNodeVerdicts, daemonPodTolerations, withDaemonPodTolerations, type DaemonNodeVerdict } from "./daemon.ts";
