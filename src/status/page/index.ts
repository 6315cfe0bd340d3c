export { pageRoutes, pageNotFound, type PageOptions } from "./routes.tsx";
export { pageSecurityHeaders, type PageEnv } from "./security.ts";
export { syncStatus, loadOverview, type SyncStatus, type Overview } from "./overview.ts";
