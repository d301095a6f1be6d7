/**
 * Counters whose value is a cumulative total kept elsewhere (the storage engine's, the Raft log's
 * and the transport's own counters): at each scrape the counter is set to that total. When the
 * source starts over (an engine reopened), the exported value goes down, which Prometheus reads
 * as a counter reset, as it should.
 *
 * They export what a prom-client Counter reset and incremented by each total at collect time
 * exports (a test compares them), without its per-series work: no label validation or label
 * hashing through objects, and each series' `name{labels} ` text formatted once and kept
 * (exposition.ts asks for the lines directly).
 */
import type { Metric, Registry } from 'prom-client';
import { formatLabelSet, formatSampleValue, type LabelMap, type SelfRenderingMetric } from './exposition.ts';

export type Labels<L extends string> = Partial<Record<L, string | number>>;

export interface Total<L extends string> {
  readonly labels: Labels<L>;
  readonly total: number;
}

interface Series {
  readonly labels: LabelMap;
  value: number;
}

/** A counter set at scrape time to the totals `read` returns (none: no series). */
export class MirroredCounter<L extends string = string> implements SelfRenderingMetric {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly sortedLabelNames: readonly L[];
  /** Each series' `name{labels} ` by its label values, for the default labels it was built with. */
  private prefixes = new Map<string, string>();
  private prefixDefaults: LabelMap | undefined;

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly read: () => Iterable<Total<L>>,
  ) {
    this.sortedLabelNames = [...labelNames].sort();
    // The registry only calls get() (and reset()): this object has the shape it needs.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series' key: its label values in sorted label-name order (prom-client's label hash). */
  private keyOf(labels: Labels<L>): string {
    let key = '';
    for (const name of this.sortedLabelNames) {
      const value = labels[name];
      if (value !== undefined) key += `${name}:${value},`;
    }
    return key;
  }

  /** One read of the totals, summed per label set (negative totals count as 0), in the order first seen. */
  private collect(): Map<string, Series> {
    const series = new Map<string, Series>();
    // An unlabelled prom-client counter has its one series from the start (value 0).
    if (this.labelNames.length === 0) series.set('', { labels: {}, value: 0 });
    let read = 0;
    for (const { labels, total } of this.read()) {
      read++;
      const key = this.keyOf(labels);
      const found = series.get(key);
      if (found === undefined) series.set(key, { labels, value: Math.max(0, total) });
      else found.value += Math.max(0, total);
    }
    // An unlabelled counter without a source exports nothing (no series of 0).
    if (read === 0) series.clear();
    return series;
  }

  get(): { name: string; help: string; type: 'counter'; aggregator: 'sum'; values: { labels: LabelMap; value: number }[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.collect().values()].map(({ labels, value }) => ({ labels, value })) };
  }

  reset(): void {
    // Nothing kept between scrapes but formatted label text.
  }

  renderLines(defaults: LabelMap): string {
    if (this.prefixDefaults !== defaults) {
      this.prefixes = new Map();
      this.prefixDefaults = defaults;
    }
    let text = '';
    for (const [key, { labels, value }] of this.collect()) {
      let prefix = this.prefixes.get(key);
      if (prefix === undefined) {
        prefix = `${this.name}${formatLabelSet(labels, defaults)} `;
        // Label values are bounded (peers, reasons, directions); the cap only guards against a bug.
        if (this.prefixes.size < 1024) this.prefixes.set(key, prefix);
      }
      text += `${text === '' ? '' : '\n'}${prefix}${formatSampleValue(value)}`;
    }
    return text;
  }
}

/** A counter set at scrape time to the totals `read` returns (none: no series). */
export function mirroredCounter<L extends string = string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<Total<L>>): MirroredCounter<L> {
  return new MirroredCounter(registry, name, help, labelNames, read);
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
