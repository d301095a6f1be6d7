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
 * Scrapes in progress, so that the metrics of one scrape share one read of each source (the node's
 * status, its range reports, the engine's stats: each a walk over the node's parts, read by a dozen
 * metrics) while the next scrape reads afresh. A scrape is rendered in slices (exposition.ts), so
 * "one scrape" cannot mean "one synchronous pass": NodeMetrics marks its start and end here.
 */
export class ScrapeScope {
  private generation = 0;
  private active = 0;

  /** A scrape starts: reads from now on are fresh, then shared until the next scrape starts. Call the result when it ends. */
  begin(): () => void {
    this.generation++;
    this.active++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active--;
    };
  }

  /** `read`, called at most once per scrape; outside a scrape (a direct registry read) every call reads. */
  shared<T>(read: () => T): () => T {
    let readIn = -1;
    let value: T;
    return () => {
      if (this.active === 0) return read();
      if (readIn !== this.generation) {
        value = read();
        readIn = this.generation;
      }
      return value;
    };
  }
}
