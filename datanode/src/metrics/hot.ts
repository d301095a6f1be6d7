/**
 * Counters and histograms for hot paths (every request, proposal and fsync). prom-client's own
 * hash their label objects at every increment (about a microsecond); these keep one small object
 * per label set that the caller holds on to, so an observation is a few array writes. They are
 * exported through the same registry (and its default labels) in the Prometheus text format:
 * through `get()` like any prom-client metric, and through `renderLines()` (exposition.ts), which
 * formats each series' label sets once and reuses a histogram series' text while it has no new
 * observations.
 */
import type { Metric, Registry } from 'prom-client';
import { formatLabelSet, formatSampleValue, type LabelMap, type SelfRenderingMetric } from './exposition.ts';

type Labels = Readonly<Record<string, string>>;

interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface Exported {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: ExportedValue[];
  readonly aggregator: 'sum';
}

/** One label set of a HotCounter. */
export class HotCounterSeries {
  value = 0;
  /** `name{labels} ` for the defaults it was built with (exposition only). */
  linePrefix: { readonly defaults: LabelMap; readonly text: string } | undefined;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** One label set of a HotHistogram: counts per bucket (the last is +Inf only), sum and count. */
export class HotHistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** The series' lines as last rendered, and the count and defaults they were rendered with (exposition only). */
  rendered: { readonly defaults: LabelMap; readonly prefixes: readonly string[]; count: number; text: string } | undefined;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let bucket = 0;
    while (bucket < this.bounds.length && value > (this.bounds[bucket] ?? Infinity)) bucket++;
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

const keyOf = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));

abstract class HotMetric<S> implements SelfRenderingMetric {
  protected readonly series = new Map<string, S>();
  abstract readonly type: 'counter' | 'histogram';
  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
  ) {
    // The registry only calls get() (and reset()): these objects have the shape it needs.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `labels`, created on first use. Keep it: using it directly costs no lookup. */
  child(labels: Labels = {}): S {
    const key = keyOf(labels);
    let found = this.series.get(key);
    if (found === undefined) {
      found = this.create(labels);
      this.series.set(key, found);
    }
    return found;
  }

  reset(): void {
    this.series.clear();
  }

  protected abstract create(labels: Labels): S;

  abstract renderLines(defaults: LabelMap): string;
}

export class HotCounter extends HotMetric<HotCounterSeries> {
  readonly type = 'counter';

  protected create(labels: Labels): HotCounterSeries {
    return new HotCounterSeries(labels);
  }

  get(): Exported {
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values: [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }

  renderLines(defaults: LabelMap): string {
    let text = '';
    for (const series of this.series.values()) {
      if (series.linePrefix?.defaults !== defaults) series.linePrefix = { defaults, text: `${this.name}${formatLabelSet(series.labels, defaults)} ` };
      text += `${text === '' ? '' : '\n'}${series.linePrefix.text}${formatSampleValue(series.value)}`;
    }
    return text;
  }
}

export class HotHistogram extends HotMetric<HotHistogramSeries> {
  readonly type = 'histogram';

  constructor(
    registry: Registry,
    name: string,
    help: string,
    private readonly bounds: readonly number[],
  ) {
    super(registry, name, help);
    for (let i = 1; i < bounds.length; i++) if (!((bounds[i] ?? 0) > (bounds[i - 1] ?? 0))) throw new Error(`${name}: buckets must increase`);
  }

  protected create(labels: Labels): HotHistogramSeries {
    return new HotHistogramSeries(labels, this.bounds);
  }

  get(): Exported {
    const values: ExportedValue[] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      for (let bucket = 0; bucket <= this.bounds.length; bucket++) {
        cumulative += series.counts[bucket] ?? 0;
        values.push({ labels: { le: bucket < this.bounds.length ? (this.bounds[bucket] ?? 0) : '+Inf', ...series.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  renderLines(defaults: LabelMap): string {
    let text = '';
    for (const series of this.series.values()) text += `${text === '' ? '' : '\n'}${this.renderSeries(series, defaults)}`;
    return text;
  }

  /** The series' bucket, sum and count lines (the same as get() gives), re-rendered only when it has new observations. */
  private renderSeries(series: HotHistogramSeries, defaults: LabelMap): string {
    let rendered = series.rendered;
    if (rendered?.defaults !== defaults) {
      const prefixes: string[] = [];
      for (let bucket = 0; bucket <= this.bounds.length; bucket++) {
        prefixes.push(`${this.name}_bucket${formatLabelSet({ le: bucket < this.bounds.length ? (this.bounds[bucket] ?? 0) : '+Inf', ...series.labels }, defaults)} `);
      }
      const labels = formatLabelSet(series.labels, defaults);
      prefixes.push(`${this.name}_sum${labels} `, `${this.name}_count${labels} `);
      rendered = series.rendered = { defaults, prefixes, count: -1, text: '' };
    }
    if (rendered.count === series.count) return rendered.text;
    const { prefixes } = rendered;
    let cumulative = 0;
    let text = '';
    for (let bucket = 0; bucket <= this.bounds.length; bucket++) {
      cumulative += series.counts[bucket] ?? 0;
      text += `${prefixes[bucket] ?? ''}${formatSampleValue(cumulative)}\n`;
    }
    text += `${prefixes[this.bounds.length + 1] ?? ''}${formatSampleValue(series.sum)}\n${prefixes[this.bounds.length + 2] ?? ''}${formatSampleValue(series.count)}`;
    rendered.count = series.count;
    rendered.text = text;
    return text;
  }
}
