/**
 * Time as the operator's machinery sees it, injected so tests can drive it (STYLE.md: core code
 * never calls Date.now or setTimeout directly).
 */
export interface Clock {
  nowMs(): number;
  /** Calls `callback` after `delayMs`; returns a function that cancels it. */
  setTimer(delayMs: number, callback: () => void): () => void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer: (delayMs, callback) => {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    return () => clearTimeout(timer);
  },
};

/** Resolves after `delayMs` on `clock`, or at once (rejecting nothing) when `signal` aborts. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      cancel();
      resolve();
    };
    const cancel = clock.setTimer(delayMs, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A clock that moves only when told to: `advance` fires due timers in time order. */
export class ManualClock implements Clock {
  private now: number;
  private sequence = 0;
  private readonly timers = new Map<number, { readonly at: number; readonly callback: () => void }>();

  constructor(startMs = 1_700_000_000_000) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): () => void {
    const id = this.sequence++;
    this.timers.set(id, { at: this.now + Math.max(0, delayMs), callback });
    return () => this.timers.delete(id);
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let nextId: number | undefined;
      let nextAt = Number.POSITIVE_INFINITY;
      for (const [id, timer] of this.timers) {
        if (timer.at <= target && timer.at < nextAt) {
          nextAt = timer.at;
          nextId = id;
        }
      }
      if (nextId === undefined) break;
      const timer = this.timers.get(nextId);
      this.timers.delete(nextId);
      this.now = Math.max(this.now, nextAt);
      timer?.callback();
    }
    this.now = target;
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}
