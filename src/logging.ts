import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Paths pino removes from every log line. Secrets must never reach a log:
 * credentials are redacted by name wherever they appear in a logged object.
 */
const redactPaths = [
  "password",
  "token",
  "secret",
  "authorization",
  "*.password",
  "*.token",
  "*.secret",
  "*.authorization",
  "*.webhookSecret",
  "auth.*",
  "*.auth.*",
  "headers.authorization",
  "headers.cookie",
  // A request or its headers logged whole (a handler's mistake) still shows no credential.
  "cookie",
  "*.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  'headers["set-cookie"]',
  '*.headers["set-cookie"]',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.CAPSTAN_LOG_LEVEL ?? "info",
      base: { service: "capstan" },
      redact: { paths: redactPaths, censor: "[redacted]" },
    },
    options.destination ?? process.stderr,
  );
}

/** A logger that discards everything, for tests and library callers that do not care. */
export const silentLogger: Logger = pino({ level: "silent" });
