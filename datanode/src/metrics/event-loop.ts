/**
 * The event-loop delay gauges prom-client's default metrics export
 * (`nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds` and the lag of one
 * setImmediate, `nodejs_eventloop_lag_seconds`), with the same names, help texts and meaning, for
 * a fraction of their scrape cost.
 *
 * prom-client reads them from `perf_hooks.monitorEventLoopDelay`'s HDR histogram and resets it at
 * each scrape. Its `mean` and `stddev` walk every bucket of that histogram (values up to an hour
 * at 3 significant digits): 0.4-1 ms of a node's main thread per scrape, measured (issue 7),
 * about a third of a whole scrape, for the ~50 samples a 1 s scrape interval collects. Here a
 * repeating timer records how late each of its runs was (the time since the previous run minus
 * the resolution: whatever held the loop up) into a plain array, and a scrape sorts the samples
 * gathered since the last one: microseconds.
 *
 * Unlike Node's monitor, the samples do not include the timer's resolution: the gauges say how
 * late the event loop ran a timer (about 0 on an idle loop), whatever the sampling rate. That
 * lets the rate be low: every run of the timer wakes the node, about 120 µs of main-thread CPU
 * each on a quiet node all told (measured: 20 ms cost ~6 ms/s of CPU per idle node, 100 ms
 * ~1.5 ms/s), a fixed cost that weighs most at one client (issue 7).
 *
 * Statistics follow the HDR histogram's definitions: population standard deviation, and the
 * p-th percentile is the k-th smallest sample for k = p% of the samples, rounded. With no
 * samples (two scrapes within one resolution) the values are the empty histogram's (min int64
 * max, max 0, mean and stddev NaN, percentiles 0).
 */
import { Gauge, type Registry } from 'prom-client';

/** At most this many samples are kept between scrapes (at 100 ms, almost 14 minutes' worth); min, max, mean and stddev count every sample. */
export const eventLoopSamplesMax = 8192;

/** What HDR histograms report for `min` with no samples (int64 max, as a double). */
const emptyMinNs = 9223372036854776000;

export interface EventLoopStats {
  readonly minNs: number;
  readonly maxNs: number;
  readonly meanNs: number;
  readonly stddevNs: number;
  percentileNs(p: number): number;
}

/** Samples (ns) since the last reset: running sums for every sample, the values of the last `eventLoopSamplesMax` for percentiles. */
export class DelaySamples {
  private readonly values = new Float64Array(eventLoopSamplesMax);
  private kept = 0;
  private next = 0;
  private count = 0;
  private sum = 0;
  private sumSquares = 0;
  private min = Infinity;
  private max = 0;

  record(ns: number): void {
    this.values[this.next] = ns;
    this.next = (this.next + 1) % eventLoopSamplesMax;
    if (this.kept < eventLoopSamplesMax) this.kept++;
    this.count++;
    this.sum += ns;
    this.sumSquares += ns * ns;
    if (ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
  }

  /** The statistics of the samples so far. */
  stats(): EventLoopStats {
    const count = this.count;
    const mean = count === 0 ? NaN : this.sum / count;
    const sorted = this.values.slice(0, this.kept).sort();
    return {
      minNs: count === 0 ? emptyMinNs : this.min,
      maxNs: this.max,
      meanNs: mean,
      stddevNs: count === 0 ? NaN : Math.sqrt(Math.max(0, this.sumSquares / count - mean * mean)),
      // HDR's rank: the (p/100 · n, rounded half up, at least 1)-th smallest sample.
      percentileNs: (p) => (sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length, Math.max(1, Math.floor((p / 100) * sorted.length + 0.5))) - 1] ?? 0)),
    };
  }

  reset(): void {
    this.kept = 0;
    this.next = 0;
    this.count = 0;
    this.sum = 0;
    this.sumSquares = 0;
    this.min = Infinity;
    this.max = 0;
  }
}

/** The family names prom-client's default metrics give the event-loop delay (before the prefix). */
export const eventLoopMetricNames = [
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
] as const;

/**
 * Registers the eight event-loop gauges in `registry` (names prefixed with `prefix`) and starts
 * sampling every `resolutionMs` (each sample: how late that run of the timer was); the returned function stops the sampling timer.
 */
export function registerEventLoopMetrics(registry: Registry, prefix: string, resolutionMs: number): () => void {
  const samples = new DelaySamples();
  let lastMs = performance.now();
  const timer = setInterval(() => {
    const nowMs = performance.now();
    samples.record(Math.max(0, nowMs - lastMs - resolutionMs) * 1e6);
    lastMs = nowMs;
  }, resolutionMs);
  timer.unref();
  const registers = [registry];
  const [lagName, minName, maxName, meanName, stddevName, p50Name, p90Name, p99Name] = eventLoopMetricNames;
  // As prom-client's: a scrape sets the others from the samples, and measures how long a
  // setImmediate takes to run, which the next scrape reports.
  const lag: Gauge = new Gauge({
    name: prefix + lagName,
    help: 'Lag of event loop in seconds.',
    registers,
    aggregator: 'average',
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
      const stats = samples.stats();
      lagMin.set(stats.minNs / 1e9);
      lagMax.set(stats.maxNs / 1e9);
      lagMean.set(stats.meanNs / 1e9);
      lagStddev.set(stats.stddevNs / 1e9);
      lagP50.set(stats.percentileNs(50) / 1e9);
      lagP90.set(stats.percentileNs(90) / 1e9);
      lagP99.set(stats.percentileNs(99) / 1e9);
      samples.reset();
    },
  });
  const lagMin = new Gauge({ name: prefix + minName, help: 'The minimum recorded event loop delay.', registers, aggregator: 'min' });
  const lagMax = new Gauge({ name: prefix + maxName, help: 'The maximum recorded event loop delay.', registers, aggregator: 'max' });
  const lagMean = new Gauge({ name: prefix + meanName, help: 'The mean of the recorded event loop delays.', registers, aggregator: 'average' });
  const lagStddev = new Gauge({ name: prefix + stddevName, help: 'The standard deviation of the recorded event loop delays.', registers, aggregator: 'average' });
  const lagP50 = new Gauge({ name: prefix + p50Name, help: 'The 50th percentile of the recorded event loop delays.', registers, aggregator: 'average' });
  const lagP90 = new Gauge({ name: prefix + p90Name, help: 'The 90th percentile of the recorded event loop delays.', registers, aggregator: 'average' });
  const lagP99 = new Gauge({ name: prefix + p99Name, help: 'The 99th percentile of the recorded event loop delays.', registers, aggregator: 'average' });
  return () => clearInterval(timer);
}
