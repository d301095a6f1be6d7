/**
 * The V8 heap gauges prom-client's default metrics export (`nodejs_heap_size_total_bytes`,
 * `nodejs_heap_size_used_bytes`, `nodejs_external_memory_bytes`), with the same names, help
 * texts and values, read from `v8.getHeapStatistics()`.
 *
 * prom-client reads them from `process.memoryUsage()`, which also reads the resident set size
 * from /proc and totals the array buffers: 20+ µs on a heap of a few hundred MB against 1.5 µs
 * (measured, Node 20), and the most expensive single call of a data node's scrape in a CPU
 * profile (issue 7's cost). The resident set size is exported anyway, by
 * `process_resident_memory_bytes` (one read of /proc/self/status).
 */
import { getHeapStatistics } from 'node:v8';
import { Gauge, type Registry } from 'prom-client';

/** The family names prom-client gives these gauges (before the prefix), in its order. */
export const heapMetricNames = ['nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes'] as const;

/** Registers the three heap gauges in `registry` (names prefixed with `prefix`); a scrape sets all three from one read. */
export function registerHeapMetrics(registry: Registry, prefix: string): void {
  const registers = [registry];
  const [totalName, usedName, externalName] = heapMetricNames;
  const total: Gauge = new Gauge({
    name: prefix + totalName,
    help: 'Process heap size from Node.js in bytes.',
    registers,
    collect() {
      const heap = getHeapStatistics();
      total.set(heap.total_heap_size);
      used.set(heap.used_heap_size);
      external.set(heap.external_memory);
    },
  });
  const used = new Gauge({ name: prefix + usedName, help: 'Process heap size used from Node.js in bytes.', registers });
  const external = new Gauge({ name: prefix + externalName, help: 'Node.js external memory size in bytes.', registers });
}
