/**
 * The Node.js process metrics prom-client's `collectDefaultMetrics` exports (process CPU, memory,
 * file descriptors, active handles/requests/resources, V8 heap spaces, Node.js version, GC
 * durations), with the same family names, help texts, types, label names and meanings, in the
 * same order, for a fraction of their scrape cost. The event-loop delay (event-loop.ts) and the
 * heap sizes (heap.ts) have their own files; registerProcessMetrics puts them in their places.
 *
 * What prom-client's cost at every scrape, measured on Node 20 with ~230 open files and sockets
 * (issue 7: a scrape's cost is paid by the node's main thread, and the benchmark scrapes each
 * node every second): listing /proc/self/fd to count open files, 120-150 µs (the kernel formats a
 * directory entry per descriptor); here one stat() of that directory, whose size has been the
 * number of open descriptors since Linux 6.2, ~4 µs (older kernels report 0: then it is listed as
 * before). /proc/self/status opened, read, split into lines and reduced, ~43 µs; here read
 * through a descriptor kept open and searched, ~10 µs. Active handles and resources, each listed
 * twice (once for the per-type gauge, once for the total), ~140 µs; here once each. Heap-space
 * gauges set through label objects, ~160 µs; the version gauge relabelled at every scrape, ~22 µs.
 * All told ~0.5 ms in that microbenchmark; on an idle data node (31 descriptors) the main thread's
 * CPU per scrape went from 2.70-2.90 to 2.57-2.73 ms (session 10).
 *
 * Values that differ from prom-client's by design: the CPU counters are the process's totals since
 * it started (prom-client counts from when its metrics were registered, a few milliseconds later);
 * a GC histogram observation is made for every GC entry Node delivers, where prom-client's
 * observer takes the first of each batch.
 */
import fs from 'node:fs';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Registry } from 'prom-client';
import { registerEventLoopMetrics } from './event-loop.ts';
import { registerHeapMetrics } from './heap.ts';
import { HotHistogram, type HotHistogramSeries } from './hot.ts';
import { mirroredCounter, scrapedGauge, type ScrapeScope, type Total } from './mirrored.ts';

/** prom-client's default GC duration buckets (seconds). */
export const gcDurationBuckets = [0.001, 0.01, 0.1, 1, 2, 5];

/** GC kinds by the `detail.kind` Node gives a 'gc' performance entry, named as prom-client names them. */
const gcKinds = new Map<number, string>([
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [perfConstants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** The `VmSize`, `VmRSS` and `VmData` lines of /proc/self/status, in bytes (undefined where absent). */
export function parseProcStatus(text: string): { virtualBytes?: number; residentBytes?: number; dataBytes?: number } {
  const field = (name: string): number | undefined => {
    const at = text.indexOf(`\n${name}:`);
    if (at < 0) return undefined;
    const end = text.indexOf('\n', at + 1);
    const kib = Number.parseInt(text.slice(at + name.length + 2, end < 0 ? undefined : end).trim(), 10);
    return Number.isFinite(kib) ? kib * 1024 : undefined;
  };
  const virtualBytes = field('VmSize');
  const residentBytes = field('VmRSS');
  const dataBytes = field('VmData');
  return { ...(virtualBytes === undefined ? {} : { virtualBytes }), ...(residentBytes === undefined ? {} : { residentBytes }), ...(dataBytes === undefined ? {} : { dataBytes }) };
}

/**
 * Reads /proc/self/status through a descriptor kept open: a read at offset 0 regenerates the text,
 * ~7 µs against ~25-40 µs for an open, fstat, read and close each time (measured on a data node).
 */
export class ProcStatusReader {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(8192);

  read(): ReturnType<typeof parseProcStatus> {
    try {
      this.fd ??= fs.openSync('/proc/self/status', 'r');
      const length = fs.readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      return parseProcStatus(this.buffer.toString('latin1', 0, length));
    } catch {
      this.close();
      return {};
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed: nothing to release.
    }
    this.fd = undefined;
  }
}

/** The soft limit on open files, from /proc/self/limits (undefined where unreadable). */
export function readMaxFds(): number | undefined {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const value = line === undefined ? NaN : Number(line.split(/ {2,}/)[1]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The process's open file descriptors: the size of /proc/self/fd (Linux 6.2 and later), else the
 * number of its entries (minus the descriptor the listing itself opened); undefined off Linux.
 */
export function countOpenFds(): number | undefined {
  try {
    const size = fs.statSync('/proc/self/fd').size;
    if (size > 0) return size;
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** Counts of `items` by `key` (items without one are skipped), in the order keys are first seen: prom-client's grouping. */
export function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Total<'type'>[] {
  const counts = new Map<string, number>();
  for (const item of items) {
    const type = key(item);
    if (type !== undefined) counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return [...counts].map(([type, total]) => ({ labels: { type }, total }));
}

/** A handle's or request's type as prom-client names it: its constructor's name. */
export function constructorName(item: unknown): string | undefined {
  const name = (item as { constructor?: { name?: unknown } } | null | undefined)?.constructor?.name;
  return typeof name === 'string' ? name : undefined;
}

/** `new_space` → `new`, as prom-client labels heap spaces. */
const spaceName = (name: string): string => {
  const end = name.indexOf('_space');
  return end < 0 ? name : name.slice(0, end);
};

const one = (total: number | undefined): Total<never>[] => (total === undefined ? [] : [{ labels: {}, total }]);

/** Node's undocumented handle and request lists (present on Node 20; prom-client uses them too). */
interface ProcessInternals {
  _getActiveHandles?: () => unknown[];
  _getActiveRequests?: () => unknown[];
}

/**
 * Registers the process metrics in `registry` with names prefixed by `prefix`, in prom-client's
 * order; reads shared by several families happen once per scrape (`scope`). Returns a stop for
 * the event-loop sampling timer, the GC observer and the /proc/self/status descriptor.
 */
export function registerProcessMetrics(registry: Registry, prefix: string, scope: ScrapeScope, eventLoopSampleMs: number): () => void {
  const internals = process as unknown as ProcessInternals;
  const stops: (() => void)[] = [];
  const linux = process.platform === 'linux';

  const cpu = scope.shared(() => process.cpuUsage());
  mirroredCounter(registry, `${prefix}process_cpu_user_seconds_total`, 'Total user CPU time spent in seconds.', [], () => one(cpu().user / 1e6));
  mirroredCounter(registry, `${prefix}process_cpu_system_seconds_total`, 'Total system CPU time spent in seconds.', [], () => one(cpu().system / 1e6));
  mirroredCounter(registry, `${prefix}process_cpu_seconds_total`, 'Total user and system CPU time spent in seconds.', [], () => {
    const usage = cpu();
    return one((usage.user + usage.system) / 1e6);
  });

  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  scrapedGauge(registry, `${prefix}process_start_time_seconds`, 'Start time of the process since unix epoch in seconds.', [], () => one(startSeconds));

  if (linux) {
    const status = new ProcStatusReader();
    stops.push(() => status.close());
    const memory = scope.shared(() => status.read());
    scrapedGauge(registry, `${prefix}process_resident_memory_bytes`, 'Resident memory size in bytes.', [], () => one(memory().residentBytes));
    scrapedGauge(registry, `${prefix}process_virtual_memory_bytes`, 'Virtual memory size in bytes.', [], () => one(memory().virtualBytes));
    scrapedGauge(registry, `${prefix}process_heap_bytes`, 'Process heap size in bytes.', [], () => one(memory().dataBytes));
    scrapedGauge(registry, `${prefix}process_open_fds`, 'Number of open file descriptors.', [], () => one(countOpenFds()));
  } else {
    scrapedGauge(registry, `${prefix}process_resident_memory_bytes`, 'Resident memory size in bytes.', [], () => one(process.memoryUsage.rss()));
  }
  const maxFds = readMaxFds();
  if (maxFds !== undefined) scrapedGauge(registry, `${prefix}process_max_fds`, 'Maximum number of open file descriptors.', [], () => one(maxFds));

  const stopSampling = registerEventLoopMetrics(registry, prefix, eventLoopSampleMs);

  const resources = scope.shared(() => process.getActiveResourcesInfo());
  scrapedGauge(registry, `${prefix}nodejs_active_resources`, 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.', ['type'], () => countBy(resources(), (name) => name));
  scrapedGauge(registry, `${prefix}nodejs_active_resources_total`, 'Total number of active resources.', [], () => one(resources().length));
  if (typeof internals._getActiveHandles === 'function') {
    const list = internals._getActiveHandles.bind(process);
    const handles = scope.shared(() => list());
    scrapedGauge(registry, `${prefix}nodejs_active_handles`, 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.', ['type'], () => countBy(handles(), constructorName));
    scrapedGauge(registry, `${prefix}nodejs_active_handles_total`, 'Total number of active handles.', [], () => one(handles().length));
  }
  if (typeof internals._getActiveRequests === 'function') {
    const list = internals._getActiveRequests.bind(process);
    const requests = scope.shared(() => list());
    scrapedGauge(registry, `${prefix}nodejs_active_requests`, 'Number of active libuv requests grouped by request type. Every request type is C++ class name.', ['type'], () => countBy(requests(), constructorName));
    scrapedGauge(registry, `${prefix}nodejs_active_requests_total`, 'Total number of active requests.', [], () => one(requests().length));
  }

  registerHeapMetrics(registry, prefix);
  const spaces = scope.shared(() => getHeapSpaceStatistics().map((space) => ({ ...space, space_name: spaceName(space.space_name) })));
  type HeapSpace = ReturnType<typeof getHeapSpaceStatistics>[number];
  for (const [kind, read] of [
    ['total', (s: HeapSpace) => s.space_size],
    ['used', (s: HeapSpace) => s.space_used_size],
    ['available', (s: HeapSpace) => s.space_available_size],
  ] as const) {
    scrapedGauge(registry, `${prefix}nodejs_heap_space_size_${kind}_bytes`, `Process heap space size ${kind} from Node.js in bytes.`, ['space'], () => spaces().map((space) => ({ labels: { space: space.space_name }, total: read(space) })));
  }

  const [major = 0, minor = 0, patch = 0] = process.version.slice(1).split('.').map(Number);
  const versionLabels = { version: process.version, major, minor, patch };
  scrapedGauge(registry, `${prefix}nodejs_version_info`, 'Node.js version info.', ['version', 'major', 'minor', 'patch'], () => [{ labels: versionLabels, total: 1 }]);

  const gc = new HotHistogram(registry, `${prefix}nodejs_gc_duration_seconds`, 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', gcDurationBuckets);
  const gcSeries = new Map<number, HotHistogramSeries>();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } | null }).detail?.kind ?? -1;
      let series = gcSeries.get(kind);
      if (series === undefined) {
        series = gc.child({ kind: gcKinds.get(kind) ?? 'unknown' });
        gcSeries.set(kind, series);
      }
      series.observe(entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  stops.push(stopSampling, () => observer.disconnect());
  return () => {
    for (const stop of stops.splice(0)) stop();
  };
}
