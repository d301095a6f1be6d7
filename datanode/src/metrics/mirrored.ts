/**
 * Counters whose value is a cumulative total kept elsewhere (the storage engine's, the Raft log's
 * and the transport's own counters): at each scrape the counter is set to that total. When the
 * source starts over (an engine reopened), the exported value goes down, which Prometheus reads
 * as a counter reset, as it should.
 */
import { Counter, type Registry } from 'prom-client';

export type Labels<L extends string> = Partial<Record<L, string | number>>;

export interface Total<L extends string> {
  readonly labels: Labels<L>;
  readonly total: number;
}

/** A counter set at scrape time to the totals `read` returns (none: no series). */
export function mirroredCounter<L extends string = string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<Total<L>>): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      let series = 0;
      for (const { labels, total } of read()) {
        this.inc(labels, Math.max(0, total));
        series++;
      }
      // An unlabelled counter exports 0 after reset(); a missing source should export nothing.
      if (series === 0 && labelNames.length === 0) this.remove();
    },
  });
}

/**
 * `read` at most once per `windowMs` (one scrape reads a source once for all its series, and a
 * scrape takes far less than the window), using `nowMs` as the clock.
 */
export function perScrape<T>(read: () => T, windowMs = 500, nowMs: () => number = () => performance.now()): () => T {
  let at = -Infinity;
  let value: T;
  return () => {
    const now = nowMs();
    if (now - at >= windowMs) {
      value = read();
      at = now;
    }
    return value;
  };
}

/**
 * `read` at most once per synchronous pass: the registry calls every metric's collect in one
 * pass (prom-client's `metrics()` starts each metric's `get()` before awaiting any), so the
 * metrics of one scrape share one read, and the next scrape (a later pass) reads afresh.
 */
export function oncePerPass<T>(read: () => T): () => T {
  let fresh = false;
  let value: T;
  return () => {
    if (!fresh) {
      value = read();
      fresh = true;
      queueMicrotask(() => {
        fresh = false;
      });
    }
    return value;
  };
}
