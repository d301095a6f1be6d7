/**
 * Counters and histograms for hot paths (every request, proposal and fsync). prom-client's own
 * hash their label objects at every increment (about a microsecond); these keep one small object
 * per label set that the caller holds on to, so an observation is a few array writes. They are
 * exported through the same registry (and its default labels) in the Prometheus text format.
 */
import type { Metric, Registry } from 'prom-client';

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

abstract class HotMetric<S> {
  protected readonly series = new Map<string, S>();
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
}

export class HotCounter extends HotMetric<HotCounterSeries> {
  protected create(labels: Labels): HotCounterSeries {
    return new HotCounterSeries(labels);
  }

  get(): Exported {
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values: [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }
}

export class HotHistogram extends HotMetric<HotHistogramSeries> {
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
}
