import { createHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DelaySamples, eventLoopMetricNames } from './event-loop.ts';
import { NodeMetrics } from './node-metrics.ts';
import { leaderStatus } from './status.test-support.ts';

/** Relative precision of an HDR histogram with 3 significant digits (what monitorEventLoopDelay records into). */
const hdrPrecision = 1e-3;

function expectClose(ours: number, hdr: number): void {
  expect(Math.abs(ours - hdr)).toBeLessThanOrEqual(Math.abs(hdr) * hdrPrecision + 1);
}

describe('event-loop delay samples', () => {
  it('give the statistics the HDR histogram prom-client read gives for the same samples', () => {
    // Delays as a loaded loop shows them: mostly the 20 ms resolution, a tail of stalls.
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const count of [1, 2, 49, 750]) {
      const samples = new DelaySamples();
      const hdr = createHistogram();
      for (let i = 0; i < count; i++) {
        const ns = Math.round(20e6 + (random() < 0.1 ? random() * 200e6 : random() * 2e6));
        samples.record(ns);
        hdr.record(ns);
      }
      const stats = samples.stats();
      expectClose(stats.minNs, hdr.min);
      expectClose(stats.maxNs, hdr.max);
      expectClose(stats.meanNs, hdr.mean);
      // Both are the population standard deviation (0 for one sample).
      expect(Math.abs(stats.stddevNs - hdr.stddev)).toBeLessThanOrEqual(hdr.mean * hdrPrecision + 1);
      for (const p of [50, 90, 99]) expectClose(stats.percentileNs(p), hdr.percentile(p));
    }
  });

  it('start over at each reset, and report what an empty HDR histogram reports', () => {
    const samples = new DelaySamples();
    samples.record(5e6);
    samples.record(9e6);
    expect(samples.stats().maxNs).toBe(9e6);
    samples.reset();
    const empty = createHistogram();
    const stats = samples.stats();
    expect([stats.minNs, stats.maxNs, stats.meanNs, stats.stddevNs, stats.percentileNs(99)]).toEqual([empty.min, empty.max, empty.mean, empty.stddev, empty.percentile(99)]);
    samples.record(3e6);
    expect(samples.stats().minNs).toBe(3e6);
    expect(samples.stats().percentileNs(50)).toBe(3e6);
  });
});

describe("the node's process metrics", () => {
  it("are prom-client's defaults, every family in the same order, with samples for the event-loop delay", async () => {
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults, prefix: 'phantomdb_' });
    const expected = defaults.getMetricsAsArray().map((metric) => metric.name);
    const metrics = new NodeMetrics({ status: () => leaderStatus }, { nodeId: 2, clusterId: 'c1' });
    try {
      const names = metrics.registry.getMetricsAsArray().map((metric) => metric.name);
      expect(names.filter((name) => name.startsWith('phantomdb_process_') || name.startsWith('phantomdb_nodejs_'))).toEqual(expected);
      for (const name of eventLoopMetricNames) expect(expected).toContain(`phantomdb_${name}`);
      // A few samples at the 20 ms resolution, then a scrape reports them.
      const startedMs = performance.now();
      await new Promise<void>((resolve) => {
        const poll = (): void => void (performance.now() - startedMs > 150 ? resolve() : setTimeout(poll, 10));
        poll();
      });
      const text = await metrics.exposition();
      const p99 = Number(/^phantomdb_nodejs_eventloop_lag_p99_seconds\{node="2"\} (\S+)$/m.exec(text)?.[1]);
      const min = Number(/^phantomdb_nodejs_eventloop_lag_min_seconds\{node="2"\} (\S+)$/m.exec(text)?.[1]);
      // Each sample is the time between two runs of a 20 ms timer.
      expect(min, text).toBeGreaterThanOrEqual(0.019);
      expect(p99, text).toBeGreaterThanOrEqual(min);
      expect(p99, text).toBeLessThan(60);
    } finally {
      metrics.close();
    }
  });
});
