/**
 * Load-aware pacing of a node's snapshot streams (replica copies for rebalancing, decommission and
 * re-replication), in the spirit of CockroachDB's admission control for snapshots and TiKV's
 * snapshot limits: background copies yield to the node's foreground work while that work suffers.
 *
 * The signal is the main thread's event-loop delay (perf_hooks monitorEventLoopDelay: how late a
 * 10 ms timer fires), the Node.js counterpart of a runnable queue: it grows when the main thread
 * runs long synchronous slices AND when the machine's cores are saturated and the thread waits to
 * be scheduled, which is what a client's latency pays for. Every `intervalMs` the pacer reads the
 * window's p99 and sets the share of the configured rate (--snapshot-rate-bytes) the streams get:
 *
 *   - p99 above `delayHighMs`: multiply the share by `decrease` (multiplicative decrease),
 *   - p99 below `delayHighMs / 2`: add `increase` to it (additive increase, back to 1),
 *   - in between: keep it (hysteresis, so the rate does not oscillate each window),
 *
 * never below `floorFraction`, so a copy always progresses (a move cannot starve: at the default
 * 0.6 the copies keep over half the configured rate, so that the rebalance target of issue 5, ≥ 50%
 * of the limit judged from the join until balanced with start-up and promotions included, holds) and never
 * above 1 (the configured limit stays a limit). The pacer only slows what the byte rate limiter lets
 * through; it sends nothing itself. While no stream uses it for `idleMs` it stops measuring (no
 * timer wakes an idle node) and starts again at the full share.
 *
 * Configuration: --snapshot-pace-delay-ms (delayHighMs; 0 turns load-aware pacing off) and
 * --snapshot-pace-floor (floorFraction). See docs/multi-raft.md, "Load-aware snapshot pacing".
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoadPacingPolicy {
  /** Event-loop delay p99 (ms) over a window above which the share goes down. */
  readonly delayHighMs: number;
  /** Lowest share of the configured rate (0 < floor ≤ 1). */
  readonly floorFraction: number;
  /** Factor applied to the share after a window over `delayHighMs` (0 < decrease < 1). */
  readonly decrease: number;
  /** Share added after a window under half of `delayHighMs`. */
  readonly increase: number;
}

export const defaultLoadPacingPolicy: LoadPacingPolicy = { delayHighMs: 20, floorFraction: 0.6, decrease: 0.7, increase: 0.1 };

/** Throws a RangeError naming a bad field. */
export function checkLoadPacingPolicy(policy: LoadPacingPolicy): void {
  if (!(policy.delayHighMs > 0)) throw new RangeError(`delayHighMs must be positive, got ${policy.delayHighMs}`);
  if (!(policy.floorFraction > 0 && policy.floorFraction <= 1)) throw new RangeError(`floorFraction must be in (0, 1], got ${policy.floorFraction}`);
  if (!(policy.decrease > 0 && policy.decrease < 1)) throw new RangeError(`decrease must be in (0, 1), got ${policy.decrease}`);
  if (!(policy.increase > 0 && policy.increase <= 1)) throw new RangeError(`increase must be in (0, 1], got ${policy.increase}`);
}

/** The pacer's decision after one window whose event-loop delay p99 was `delayP99Ms`: the new share. */
export function nextRateFraction(policy: LoadPacingPolicy, current: number, delayP99Ms: number): number {
  let next = current;
  if (delayP99Ms > policy.delayHighMs) next = current * policy.decrease;
  else if (delayP99Ms < policy.delayHighMs / 2) next = current + policy.increase;
  return Math.min(1, Math.max(policy.floorFraction, next));
}

/** Where the pacer reads the event-loop delay (tests pass a fake). */
export interface DelaySampler {
  enable(): void;
  disable(): void;
  /** p99 of the delays (ms) since the last reset. */
  p99Ms(): number;
  /** Samples since the last reset. */
  count(): number;
  reset(): void;
}

/** The main thread's event-loop delay, sampled every 10 ms while enabled. */
export function eventLoopDelaySampler(): DelaySampler {
  let histogram: IntervalHistogram | undefined;
  return {
    enable: () => {
      histogram ??= monitorEventLoopDelay({ resolution: 10 });
      histogram.enable();
    },
    disable: () => histogram?.disable(),
    p99Ms: () => (histogram === undefined || histogram.count === 0 ? 0 : histogram.percentile(99) / 1e6),
    count: () => histogram?.count ?? 0,
    reset: () => histogram?.reset(),
  };
}

export interface LoadPacerOptions {
  readonly policy: LoadPacingPolicy;
  /** Window over which the delay is judged (default 500 ms). */
  readonly intervalMs?: number;
  /** Stop measuring after this long without a caller (default 5 s). */
  readonly idleMs?: number;
  readonly sampler?: DelaySampler;
  /** Milliseconds, monotonic (tests pass a fake). */
  readonly now?: () => number;
  /** Called when the share changes (for a log line on the way down to the floor and back). */
  readonly onChange?: (fraction: number, delayP99Ms: number) => void;
  /** Called when the pacer stops measuring after a busy period, with what it saw in it. */
  readonly onIdle?: (period: PacingPeriod) => void;
}

/** What the pacer saw over one busy period (from the first use until it went idle). */
export interface PacingPeriod {
  readonly seconds: number;
  /** Windows judged, and how many of them were over the threshold (slowed the streams down). */
  readonly windows: number;
  readonly slowed: number;
  /** The windows' mean share of the configured rate. */
  readonly meanFraction: number;
  /** The largest window p99 of the event-loop delay (ms). */
  readonly delayP99MaxMs: number;
}

export function describePacingPeriod(p: PacingPeriod): string {
  return `snapshot pacing: ${p.seconds.toFixed(1)} s busy, ${p.windows} windows (${p.slowed} over the delay threshold), mean share ${Math.round(p.meanFraction * 100)}% of --snapshot-rate-bytes, event-loop delay p99 up to ${p.delayP99MaxMs.toFixed(1)} ms`;
}

export class LoadPacer {
  readonly policy: LoadPacingPolicy;
  private readonly intervalMs: number;
  private readonly idleMs: number;
  private readonly sampler: DelaySampler;
  private readonly now: () => number;
  private current = 1;
  private measuring = false;
  private windowStartedAt = 0;
  private lastUsedAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Windows judged since the pacer was created, and how many of them were over the delay threshold (for logs and tests). */
  readonly stats = { windows: 0, slowed: 0 };
  private period = { startedAt: 0, windows: 0, slowed: 0, fractionSum: 0, delayMaxMs: 0 };

  constructor(private readonly options: LoadPacerOptions) {
    checkLoadPacingPolicy(options.policy);
    this.policy = options.policy;
    this.intervalMs = options.intervalMs ?? 500;
    this.idleMs = options.idleMs ?? 5000;
    this.sampler = options.sampler ?? eventLoopDelaySampler();
    this.now = options.now ?? (() => performance.now());
  }

  /** The share of the configured rate the streams may use now (judging the last window if it is over). */
  fraction(): number {
    const now = this.now();
    this.lastUsedAt = now;
    if (!this.measuring) {
      this.measuring = true;
      this.current = 1;
      this.windowStartedAt = now;
      this.period = { startedAt: now, windows: 0, slowed: 0, fractionSum: 0, delayMaxMs: 0 };
      this.sampler.reset();
      this.sampler.enable();
      this.armIdleTimer();
      return this.current;
    }
    if (now - this.windowStartedAt >= this.intervalMs && this.sampler.count() > 0) {
      const delay = this.sampler.p99Ms();
      const next = nextRateFraction(this.policy, this.current, delay);
      this.stats.windows++;
      this.period.windows++;
      if (delay > this.policy.delayHighMs) {
        this.stats.slowed++;
        this.period.slowed++;
      }
      this.period.fractionSum += next;
      this.period.delayMaxMs = Math.max(this.period.delayMaxMs, delay);
      if (next !== this.current) this.options.onChange?.(next, delay);
      this.current = next;
      this.windowStartedAt = now;
      this.sampler.reset();
    }
    return this.current;
  }

  /** Stops measuring (the node is stopping). */
  stop(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.stopMeasuring();
  }

  private stopMeasuring(): void {
    if (!this.measuring) return;
    this.measuring = false;
    this.sampler.disable();
    const p = this.period;
    if (p.windows > 0) {
      this.options.onIdle?.({ seconds: (this.lastUsedAt - p.startedAt) / 1000, windows: p.windows, slowed: p.slowed, meanFraction: p.fractionSum / p.windows, delayP99MaxMs: p.delayMaxMs });
    }
  }

  private armIdleTimer(): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.now() - this.lastUsedAt >= this.idleMs) this.stopMeasuring();
      else this.armIdleTimer();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}
