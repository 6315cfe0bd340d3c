import { z } from "zod";
import { channels as dbChannels, listen } from "../../db/index.ts";
import type { DesiredStore, SyncState } from "../../desired/index.ts";
import { silentLogger, type Logger } from "../../logging.ts";

/** What the page hears about: a store table changed ("sync": the Git source's state). */
export const changeChannelSchema = z.enum(["objects", "revisions", "events", "sync"]);
export type ChangeChannel = z.infer<typeof changeChannelSchema>;

/** One `event: change` of /api/events/stream: the channel, and how many changes the coalescing window folded. */
export const changeMessageSchema = z.object({ channel: changeChannelSchema, count: z.number().int().min(1) });
export type ChangeMessage = z.infer<typeof changeMessageSchema>;

/**
 * Where changes come from (house style 7: I/O behind a small interface). The
 * real one LISTENs on PostgreSQL; tests and the in-memory store drive a
 * `ManualChangeFeed`.
 */
export interface ChangeFeed {
  /** Starts delivering; resolves once changes are being heard. `stop` ends it. */
  start(onChange: (channel: ChangeChannel) => void): Promise<{ stop(): Promise<void> }>;
}

/** A feed whose changes a test (or an in-process writer) announces itself. */
export class ManualChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<(channel: ChangeChannel) => void>();

  async start(onChange: (channel: ChangeChannel) => void): Promise<{ stop(): Promise<void> }> {
    this.listeners.add(onChange);
    return { stop: async () => void this.listeners.delete(onChange) };
  }

  emit(channel: ChangeChannel): void {
    for (const listener of this.listeners) listener(channel);
  }
}

const channelByName: Record<string, ChangeChannel> = {
  [dbChannels.objects]: "objects",
  [dbChannels.revisions]: "revisions",
  [dbChannels.events]: "events",
};

export interface PgChangeFeedOptions {
  databaseUrl: string;
  /**
   * The sync state (fetch errors, unreachable since) has no trigger of its
   * own; it is read this often and a change reported on "sync".
   */
  store: Pick<DesiredStore, "getSyncState">;
  syncPollMs?: number;
  log?: Logger;
}

/**
 * One LISTEN connection for the whole server, however many browsers watch:
 * the LiveUpdates hub fans it out. After a lost connection the notifications
 * sent meanwhile are gone, so every channel is reported changed.
 */
export function pgChangeFeed(options: PgChangeFeedOptions): ChangeFeed {
  const log = options.log ?? silentLogger;
  return {
    async start(onChange) {
      const listener = await listen(
        options.databaseUrl,
        Object.keys(channelByName),
        (channel) => {
          const mapped = channelByName[channel];
          if (mapped) onChange(mapped);
        },
        { log, onReconnect: () => changeOptions.forEach(onChange) },
      );
      let last = syncFingerprint(await options.store.getSyncState().catch(() => null));
      const poll = setInterval(() => {
        options.store
          .getSyncState()
          .then((state) => {
            const next = syncFingerprint(state);
            if (next !== last) {
              last = next;
              onChange("sync");
            }
          })
          .catch(() => undefined);
      }, options.syncPollMs ?? 2_000);
      poll.unref();
      return {
        async stop() {
          clearInterval(poll);
          await listener.close();
        },
      };
    },
  };
}

const changeOptions = changeChannelSchema.options;

/** The fields of the sync state the page shows, not the time of the last fetch (every poll changes that). */
function syncFingerprint(state: SyncState | null): string {
  if (!state) return "none";
  return JSON.stringify([state.url, state.branch, state.lastError, state.unreachableSince, state.liveSha, state.lastSeenSha]);
}
