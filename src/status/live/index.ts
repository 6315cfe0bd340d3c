export { changeChannelSchema, changeMessageSchema, ManualChangeFeed, pgChangeFeed, type ChangeChannel, type ChangeFeed, type ChangeMessage } from "./change-feed.ts";
export { LiveUpdates, type LiveSubscriber, type LiveUpdatesOptions } from "./live-updates.ts";
export { liveRoutes, retryMs } from "./stream-route.ts";
