/**
 * The PostgreSQL layer: connection pool and transactions, the migrations
 * runner, LISTEN/NOTIFY, and the embedded server `capstan up` starts when no
 * DATABASE_URL is given. Other folders import from here only.
 */
export { createPool, withTransaction, type PoolOptions } from "./pool.ts";
export { migrate, readMigrations, defaultMigrationsDir, MigrationError, type MigrationFile } from "./migrate.ts";
export { listen, notify, channels, type Listener, type ListenOptions } from "./notify.ts";
export type { WriteGuard } from "./write-guard.ts";
export { startEmbeddedPostgres, type EmbeddedPostgresOptions, type EmbeddedServer } from "./embedded.ts";
