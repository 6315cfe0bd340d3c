import { silentLogger, type Logger } from "../../logging.ts";
import type { ChangeChannel, ChangeFeed, ChangeMessage } from "./change-feed.ts";

/** One open /api/events/stream. */
export interface LiveSubscriber {
  /** The changes of one coalescing window, one message per channel. */
  change(messages: ChangeMessage[]): void;
  heartbeat(): void;
  /** The hub closes (server shutdown): finish the stream. */
  end(): void;
}

export interface LiveUpdatesOptions {
  feed: ChangeFeed;
  /** Changes within this window go out as one message per channel: a commit of 500 objects is not 500 page refreshes. */
  coalesceMs?: number;
  /** A comment this often keeps proxies and the browser from timing an idle stream out. */
  heartbeatMs?: number;
  log?: Logger;
}

/**
 * The fan-out between the one change feed of the server and every browser
 * watching: changes are coalesced once here, not per subscriber, and one
 * timer beats the heart of all streams.
 */
export class LiveUpdates {
  private readonly subscribers = new Set<LiveSubscriber>();
  private readonly watchers = new Set<(channel: ChangeChannel) => void>();
  private pending = new Map<ChangeChannel, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly options: LiveUpdatesOptions,
    private readonly heartbeatTimer: NodeJS.Timeout,
    private feed: { stop(): Promise<void> } | undefined,
  ) {}

  static async start(options: LiveUpdatesOptions): Promise<LiveUpdates> {
    const heartbeat = setInterval(() => hub.broadcast((subscriber) => subscriber.heartbeat()), options.heartbeatMs ?? 15_000);
    heartbeat.unref();
    const hub: LiveUpdates = new LiveUpdates(options, heartbeat, undefined);
    try {
      hub.feed = await options.feed.start((channel) => hub.changed(channel));
    } catch (error) {
      clearInterval(heartbeat);
      throw error;
    }
    return hub;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** False once closed: nothing announces changes any more. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * An in-process listener (a cache to invalidate), told of each change at
   * once, not coalesced: a browser re-reading on a change, or anyone just
   * after a write, never gets what was cached before it. Not counted as a
   * subscriber.
   */
  watch(listener: (channel: ChangeChannel) => void): () => void {
    this.watchers.add(listener);
    return () => void this.watchers.delete(listener);
  }

  /** Returns the unsubscribe function. A subscriber arriving after close() is ended at once. */
  subscribe(subscriber: LiveSubscriber): () => void {
    if (this.closed) {
      queueMicrotask(() => subscriber.end());
      return () => undefined;
    }
    this.subscribers.add(subscriber);
    return () => void this.subscribers.delete(subscriber);
  }

  /** Ends every open stream and stops the feed; idempotent. Called before the HTTP server closes, or its close would wait on them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.flushTimer);
    this.watchers.clear();
    const open = [...this.subscribers];
    this.subscribers.clear();
    for (const subscriber of open) subscriber.end();
    await this.feed?.stop();
  }

  private changed(channel: ChangeChannel): void {
    if (this.closed) return;
    for (const watcher of this.watchers) watcher(channel);
    this.pending.set(channel, (this.pending.get(channel) ?? 0) + 1);
    this.flushTimer ??= setTimeout(() => this.flush(), this.options.coalesceMs ?? 150);
  }

  private flush(): void {
    this.flushTimer = undefined;
    const messages = [...this.pending].map(([channel, count]) => ({ channel, count }));
    this.pending = new Map();
    if (messages.length > 0) this.broadcast((subscriber) => subscriber.change(messages));
  }

  private broadcast(send: (subscriber: LiveSubscriber) => void): void {
    for (const subscriber of this.subscribers) {
      try {
        send(subscriber);
      } catch (error) {
        (this.options.log ?? silentLogger).warn({ err: (error as Error).message }, "live update not delivered");
        this.subscribers.delete(subscriber);
      }
    }
  }
}
