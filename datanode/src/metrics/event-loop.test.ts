import { createHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
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
    // Delays as a loaded loop shows them: mostly near 20 ms, a tail of stalls.
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
      // A few samples at the 100 ms resolution, one of them after the loop was held up for
      // 150 ms: that run of the timer is at least 50 ms late, whatever its phase.
      await sleep(250);
      const blockedMs = performance.now();
      while (performance.now() - blockedMs < 150);
      await sleep(250);
      const text = await metrics.exposition();
      const gauge = (name: string): number => Number(new RegExp(`^phantomdb_nodejs_eventloop_lag_${name}_seconds\\{node="2"\\} (\\S+)$`, 'm').exec(text)?.[1]);
      // Each sample is how late a run of the 100 ms timer was, not the time between runs.
      expect(gauge('min'), text).toBeGreaterThanOrEqual(0);
      expect(gauge('min'), text).toBeLessThan(gauge('max'));
      expect(gauge('max'), text).toBeGreaterThanOrEqual(0.05);
      expect(gauge('max'), text).toBeLessThan(10);
      expect(gauge('p99'), text).toBeGreaterThanOrEqual(gauge('min'));
    } finally {
      metrics.close();
    }
  });
});
