/**
 * A rate-limited work queue of keys (namespace/name), after client-go's workqueue:
 *
 * - De-duplication: a key waiting in the queue is there once however often it is added; a key
 *   added while a worker processes it is queued again when the worker calls `done`, so no two
 *   workers ever hold the same key and no change is missed.
 * - Per-key exponential backoff for failures (`addRateLimited`), capped, reset by `forget`.
 * - An overall token bucket (`ratePerSecond`, `burst`) so a storm of failures cannot flood the
 *   API server.
 * - Bounded: at most `keysMax` distinct keys are held (queued, delayed or in process). Adding one
 *   more is refused and counted; level-triggered controllers recover it at their next resync.
 */
import { systemClock, type Clock } from './clock.ts';

export interface WorkQueueOptions {
  readonly clock?: Clock;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly ratePerSecond?: number;
  readonly burst?: number;
  readonly keysMax?: number;
}

export interface WorkQueueStats {
  /** Keys ready to be handed to a worker. */
  readonly depth: number;
  /** Keys waiting for their delay. */
  readonly delayed: number;
  /** Keys held by workers. */
  readonly processing: number;
  /** Adds refused because the queue held keysMax keys. */
  readonly refused: number;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly ratePerSecond: number;
  private readonly burst: number;
  private readonly keysMax: number;
  private readonly queue: string[] = [];
  /** Keys that need processing (in `queue`, or re-queued once their worker is done). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { readonly readyAtMs: number; readonly cancel: () => void }>();
  private readonly failureCounts = new Map<string, number>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private tokens: number;
  private tokensAtMs: number;
  private refusedCount = 0;
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.backoffBaseMs = options.backoffBaseMs ?? 5;
    this.backoffMaxMs = options.backoffMaxMs ?? 60_000;
    this.ratePerSecond = options.ratePerSecond ?? 10;
    this.burst = options.burst ?? 100;
    this.keysMax = options.keysMax ?? 10_000;
    if (this.backoffBaseMs <= 0 || this.backoffMaxMs < this.backoffBaseMs) throw new RangeError('backoff must be positive with max >= base');
    if (this.ratePerSecond <= 0 || this.burst < 1) throw new RangeError('rate and burst must be positive');
    if (this.keysMax < 1) throw new RangeError('keysMax must be at least 1');
    this.tokens = this.burst;
    this.tokensAtMs = this.clock.nowMs();
  }

  /** Queues `key` now. Returns false when refused (shut down, or full). */
  add(key: string): boolean {
    if (this.shuttingDown) return false;
    if (this.dirty.has(key)) return true;
    if (!this.holds(key) && this.heldKeys() >= this.keysMax) {
      this.refusedCount += 1;
      return false;
    }
    const waiting = this.delayed.get(key);
    if (waiting !== undefined) {
      waiting.cancel();
      this.delayed.delete(key);
    }
    this.dirty.add(key);
    if (this.processing.has(key)) return true;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
    return true;
  }

  /** Queues `key` after `delayMs` (an earlier pending delay of the same key wins). */
  addAfter(key: string, delayMs: number): boolean {
    if (this.shuttingDown) return false;
    if (delayMs <= 0) return this.add(key);
    if (this.dirty.has(key)) return true;
    const readyAtMs = this.clock.nowMs() + delayMs;
    const waiting = this.delayed.get(key);
    if (waiting !== undefined && waiting.readyAtMs <= readyAtMs) return true;
    if (waiting === undefined && !this.holds(key) && this.heldKeys() >= this.keysMax) {
      this.refusedCount += 1;
      return false;
    }
    waiting?.cancel();
    const cancel = this.clock.setTimer(delayMs, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { readyAtMs, cancel });
    return true;
  }

  /** Queues `key` after its failure backoff and the overall rate limit, whichever is later. */
  addRateLimited(key: string): boolean {
    return this.addAfter(key, Math.max(this.nextBackoffMs(key), this.reserveTokenDelayMs()));
  }

  /** Forgets `key`'s failures: its next backoff starts from the base again. */
  forget(key: string): void {
    this.failureCounts.delete(key);
  }

  failures(key: string): number {
    return this.failureCounts.get(key) ?? 0;
  }

  /** The next key to process, waiting for one; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A worker finished `key`; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys: waiting `get` calls resolve undefined, delayed keys are dropped. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const waiting of this.delayed.values()) waiting.cancel();
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  get isShutDown(): boolean {
    return this.shuttingDown;
  }

  stats(): WorkQueueStats {
    return { depth: this.queue.length, delayed: this.delayed.size, processing: this.processing.size, refused: this.refusedCount };
  }

  private holds(key: string): boolean {
    return this.dirty.has(key) || this.processing.has(key) || this.delayed.has(key);
  }

  private heldKeys(): number {
    let held = this.processing.size + this.delayed.size;
    for (const key of this.dirty) if (!this.processing.has(key)) held += 1;
    return held;
  }

  private nextBackoffMs(key: string): number {
    const failures = this.failures(key);
    this.failureCounts.set(key, failures + 1);
    const delay = this.backoffBaseMs * 2 ** Math.min(failures, 52);
    return Math.min(delay, this.backoffMaxMs);
  }

  /** Takes one token from the bucket; returns how long until that token exists. */
  private reserveTokenDelayMs(): number {
    const now = this.clock.nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAtMs) * this.ratePerSecond) / 1000);
    this.tokensAtMs = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSecond);
  }
}
