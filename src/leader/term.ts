import { messageOf } from "../errors.ts";
import type { Logger } from "../logging.ts";

/** What runs while this replica leads: Git sync, controllers, scheduler, garbage collector, node links. */
export interface LeaderTerm {
  stop(): Promise<void>;
}

/**
 * Starts and stops the leader's components as terms begin and end, one
 * change at a time: a term that ends while its components are still
 * starting is stopped as soon as they are up, and one that ended before its
 * turn came is never started.
 */
export class TermRunner<Term extends LeaderTerm> {
  #chain: Promise<void> = Promise.resolve();
  #wanted: number | null = null;
  #current: { token: number; term: Term } | undefined;

  constructor(
    private readonly startTerm: (token: number) => Promise<Term>,
    private readonly log: Logger,
    /** Starting failed (the store hiccuped, say): the elector gives the term up so it is tried afresh. */
    private readonly onStartFailed: (token: number) => void,
  ) {}

  /** The running term's components, if any. */
  get current(): Term | undefined {
    return this.#current?.term;
  }

  begin(token: number): void {
    this.#wanted = token;
    this.#enqueue(async () => {
      if (this.#wanted !== token || this.#current?.token === token) return;
      try {
        this.#current = { token, term: await this.startTerm(token) };
        this.log.info({ term: token }, "leader components started");
      } catch (error) {
        this.log.error({ term: token, err: messageOf(error) }, "leader components failed to start");
        this.onStartFailed(token);
      }
    });
  }

  /** Resolves once the term's components have stopped. */
  end(token: number): Promise<void> {
    if (this.#wanted === token) this.#wanted = null;
    return this.#enqueue(async () => {
      const current = this.#current;
      if (!current || current.token !== token) return;
      this.#current = undefined;
      await current.term.stop().catch((error: unknown) => this.log.error({ term: token, err: messageOf(error) }, "stopping leader components failed"));
      this.log.info({ term: token }, "leader components stopped");
    });
  }

  /** Resolves once every start and stop asked for so far is done (shutdown waits for a term still stopping). */
  idle(): Promise<void> {
    return this.#chain;
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(step);
    return this.#chain;
  }
}
