export { createStatusApp, listen, type RunningServer, type StatusServerOptions } from "./server.ts";
export { apiRoutes, revisionListSchema, statusSchema } from "./api.ts";
