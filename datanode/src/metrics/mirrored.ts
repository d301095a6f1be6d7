/**
 * Counters and gauges computed at scrape time. A mirrored counter's value is a cumulative total
 * kept elsewhere (the storage engine's, the Raft log's and the transport's own counters): at each
 * scrape it is set to that total. When the source starts over (an engine reopened), the exported
 * value goes down, which Prometheus reads as a counter reset, as it should. A scraped gauge is
 * set to what its source reads at each scrape.
 *
 * Both export what a prom-client Counter (Gauge) reset and incremented by each total (set to each
 * value) at collect time exports (a test compares them), without its per-series work: no label
 * validation or label hashing through objects, and each series' `name{labels} ` text formatted
 * once and kept (exposition.ts asks for the lines directly).
 */
import type { Metric, Registry } from 'prom-client';
import { formatLabelSet, formatSampleValue, type LabelMap, type SelfRenderingMetric } from './exposition.ts';

export type Labels<L extends string> = Partial<Record<L, string | number>>;

export interface Total<L extends string> {
  readonly labels: Labels<L>;
  readonly total: number;
}

interface Series {
  labels: LabelMap;
  value: number;
}

/** A family whose series are read from a source at each scrape. */
export class ScrapedFamily<L extends string = string> implements SelfRenderingMetric {
  readonly aggregator = 'sum';
  private readonly sortedLabelNames: readonly L[];
  /** Each series' `name{labels} ` by its label values, for the default labels it was built with. */
  private prefixes = new Map<string, string>();
  private prefixDefaults: LabelMap | undefined;

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
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

  /**
   * One read of the source, in the order label sets are first seen: a counter sums the totals of
   * a label set (negative ones count as 0), a gauge keeps its last value.
   */
  private collect(): Map<string, Series> {
    const series = new Map<string, Series>();
    const counter = this.type === 'counter';
    // An unlabelled prom-client metric has its one series from the start (value 0).
    if (this.labelNames.length === 0) series.set('', { labels: {}, value: 0 });
    let read = 0;
    for (const { labels, total } of this.read()) {
      read++;
      const key = this.keyOf(labels);
      const value = counter ? Math.max(0, total) : total;
      const found = series.get(key);
      if (found === undefined) series.set(key, { labels, value });
      else if (counter) found.value += value;
      else {
        found.labels = labels;
        found.value = value;
      }
    }
    // An unlabelled counter without a source exports nothing (no series of 0); a gauge exports 0.
    if (read === 0 && counter) series.clear();
    return series;
  }

  get(): { name: string; help: string; type: 'counter' | 'gauge'; aggregator: 'sum'; values: { labels: LabelMap; value: number }[] } {
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
        // Label values are bounded (peers, reasons, levels, kinds); the cap only guards against a bug.
        if (this.prefixes.size < 1024) this.prefixes.set(key, prefix);
      }
      text += `${text === '' ? '' : '\n'}${prefix}${formatSampleValue(value)}`;
    }
    return text;
  }
}

/** A counter set at scrape time to the totals `read` returns (none: no series). */
export function mirroredCounter<L extends string = string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<Total<L>>): ScrapedFamily<L> {
  return new ScrapedFamily(registry, name, help, 'counter', labelNames, read);
}

/** A gauge set at scrape time to the values `read` returns (`total` is the value; none: unlabelled, 0). */
export function scrapedGauge<L extends string = string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<Total<L>>): ScrapedFamily<L> {
  return new ScrapedFamily(registry, name, help, 'gauge', labelNames, read);
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
