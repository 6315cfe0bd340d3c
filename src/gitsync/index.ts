/**
 * Git to PostgreSQL: reading a branch (local or HTTP(S)), the push webhook,
 * and the sync loop that turns each new tip into a revision of the desired store.
 */
export { openGitSource, type GitSource, type GitSourceOptions, type GitAuth, type TreeBlob, type BlobChange } from "./source.ts";
export { redactUrl, redactText, splitUrlCredentials } from "./credentials.ts";
export { webhookRoute, verifyWebhookSignature, parsePushEvent, WEBHOOK_PATH, type PushEvent, type WebhookRouteOptions } from "./webhook.ts";
export { GitSync, type GitSyncOptions, type SyncObserver, type SyncOutcome, type SyncPassOutcome } from "./sync.ts";
export { ensureExampleRepository } from "./example-repo.ts";
export { RollbackService, rollbackResultSchema, diffResultSchema, type RollbackResult, type RollbackServiceOptions } from "./rollback.ts";
export { rollbackRequestSchema, workloadRefSchema, isRollbackCommit, type RollbackRequest } from "./rollback-plan.ts";
