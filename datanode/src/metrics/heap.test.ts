import { describe, expect, it } from 'vitest';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { heapMetricNames, registerHeapMetrics } from './heap.ts';

const valueOf = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('the heap gauges', () => {
  it("have prom-client's names, help and types, and values that agree with process.memoryUsage()", async () => {
    const ours = new Registry();
    registerHeapMetrics(ours, 'x_');
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs, prefix: 'x_' });
    const headers = (text: string): string[] => text.split('\n').filter((line) => line.startsWith('#'));
    const ourText = await ours.metrics();
    const theirText = await theirs.metrics();
    for (const name of heapMetricNames) {
      const header = headers(theirText).filter((line) => line.includes(` x_${name} `));
      expect(header).toHaveLength(2);
      for (const line of header) expect(headers(ourText)).toContain(line);
    }
    // Held alive across both reads so the heap barely moves between them.
    const ballast = Buffer.alloc(8 * 1024 * 1024, 1);
    const text = await ours.metrics();
    const usage = process.memoryUsage();
    const total = valueOf(text, 'x_nodejs_heap_size_total_bytes');
    const used = valueOf(text, 'x_nodejs_heap_size_used_bytes');
    const external = valueOf(text, 'x_nodejs_external_memory_bytes');
    expect(used).toBeGreaterThan(0);
    expect(total).toBeGreaterThanOrEqual(used);
    expect(Math.abs(total - usage.heapTotal) / usage.heapTotal).toBeLessThan(0.25);
    expect(Math.abs(used - usage.heapUsed) / usage.heapUsed).toBeLessThan(0.25);
    // External memory counts the 8 MiB buffer outside the heap, as memoryUsage's does.
    expect(external).toBeGreaterThan(ballast.length);
    expect(Math.abs(external - usage.external) / usage.external).toBeLessThan(0.25);
  });
});
