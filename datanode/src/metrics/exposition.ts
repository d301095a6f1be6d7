/**
 * The Prometheus text exposition of a registry, rendered in slices. prom-client's
 * `registry.metrics()` collects and formats every metric family in one synchronous pass (about
 * 4 ms of a node's event loop, measured: issue 7), so a Raft message or client request that
 * arrives during a scrape waits for all of it; at one client that wait is on the critical path
 * of the operation in flight. Here the families are rendered one after another, and whenever a
 * slice has run for `sliceMs` the renderer yields to the event loop (setImmediate: I/O callbacks
 * waiting in the poll phase run first) before going on.
 *
 * The text is the same as prom-client's, byte for byte (a test compares them): same family order,
 * same label order (the metric's labels, then the default labels, then a histogram's own labels),
 * same number formatting. The formatting is ours and cheaper: no object spreads or intermediate
 * arrays per line, escaping only label values that need it, headers built once per family.
 * Families that render themselves (hot.ts) are asked for their text directly.
 */
import type { MetricValue, Registry } from 'prom-client';

type LabelValue = string | number;
export type LabelMap = Readonly<Record<string, LabelValue | undefined>>;

/** A metric that formats its own sample lines (no header, no trailing newline), given the registry's default labels. */
export interface SelfRenderingMetric {
  renderLines(defaults: LabelMap): string;
}

interface FamilyValue {
  readonly value: number;
  readonly labels?: LabelMap;
  readonly metricName?: string;
  readonly sharedLabels?: LabelMap;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values?: readonly FamilyValue[];
}

interface Gettable {
  readonly name: string;
  get(): Promise<Family> | Family;
  getForPromString?(): Promise<Family> | Family;
}

export interface RenderOptions {
  /** Yield to the event loop once a slice has run this long (ms). */
  readonly sliceMs: number;
  /** How to yield; default setImmediate. */
  readonly pause?: () => Promise<void>;
  /** The clock slices are measured with (ms); default performance.now. */
  readonly nowMs?: () => number;
}

/**
 * A scrape yields to the event loop once it has run this long (ms): a Raft message or client
 * request that arrives during a scrape waits at most about this long (plus one family) for it.
 */
export const scrapeSliceMs = 0.25;

/** Yields to the event loop: I/O callbacks waiting in the poll phase run before this resolves. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** The items of `items`, pulled in slices of about `sliceMs` with the event loop running in between. */
export async function collectInSlices<T>(items: Iterable<T>, sliceMs: number = scrapeSliceMs, nowMs: () => number = () => performance.now()): Promise<T[]> {
  const collected: T[] = [];
  let sliceStartMs = nowMs();
  for (const item of items) {
    collected.push(item);
    if (nowMs() - sliceStartMs >= sliceMs) {
      await yieldToEventLoop();
      sliceStartMs = nowMs();
    }
  }
  return collected;
}

const needsEscape = /[\\\n"]/;

/** A label value as prom-client writes it (backslash, newline and double quote escaped). */
export function escapeLabelValue(value: LabelValue): string {
  if (typeof value !== 'string') return `${value}`;
  if (!needsEscape.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A sample value as prom-client writes it. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** `a="1",b="2"` for the pairs of `labels` (in their order), skipping the names in `skip`. */
function formatPairs(labels: LabelMap, skip?: LabelMap): string {
  let text = '';
  for (const name in labels) {
    const value = labels[name];
    if (value === undefined || (skip !== undefined && Object.hasOwn(skip, name))) continue;
    text += `${text === '' ? '' : ','}${name}="${escapeLabelValue(value)}"`;
  }
  return text;
}

/**
 * `{...}` for one sample, as prom-client builds it: the sample's labels, then the default labels
 * it does not set itself, minus a histogram's shared labels, then those shared labels.
 */
export function formatLabelSet(labels: LabelMap | undefined, defaults: LabelMap, shared?: LabelMap): string {
  let text = labels === undefined ? '' : formatPairs(labels, shared);
  for (const name in defaults) {
    const value = defaults[name];
    if (value === undefined || (labels !== undefined && Object.hasOwn(labels, name)) || (shared !== undefined && Object.hasOwn(shared, name))) continue;
    text += `${text === '' ? '' : ','}${name}="${escapeLabelValue(value)}"`;
  }
  if (shared !== undefined) {
    const sharedText = formatPairs(shared);
    if (sharedText !== '') text += `${text === '' ? '' : ','}${sharedText}`;
  }
  return text === '' ? '' : `{${text}}`;
}

/** The `# HELP` and `# TYPE` lines of a family. */
export function familyHeader(name: string, help: string, type: string): string {
  const escapedName = name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return `# HELP ${escapedName} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${escapedName} ${type}`;
}

function isSelfRendering(metric: unknown): metric is SelfRenderingMetric {
  return typeof (metric as Partial<SelfRenderingMetric>).renderLines === 'function';
}

/** Renders registered families; keeps each family's header text (names and help never change). */
export class ExpositionRenderer {
  /** How long each family took to render last time (ms). */
  private readonly lastCostMs = new WeakMap<object, number>();
  private readonly headers = new WeakMap<object, { readonly name: string; readonly help: string; readonly type: string; readonly text: string }>();

  constructor(
    private readonly registry: Registry,
    private readonly defaults: LabelMap,
  ) {}

  /** The whole exposition, yielding between families once a slice has run `sliceMs`. */
  async render(options: RenderOptions): Promise<string> {
    const nowMs = options.nowMs ?? (() => performance.now());
    const pause = options.pause ?? yieldToEventLoop;
    const parts: string[] = [];
    // Start in the check phase: a scrape's handler runs in the poll phase, and an immediate
    // scheduled there runs in the same loop iteration, before the next poll. After this first
    // turn every yield below passes through a poll phase, so waiting I/O runs between slices.
    await pause();
    let sliceStartMs = nowMs();
    let familyStartMs = sliceStartMs;
    for (const metric of this.registry.getMetricsAsArray()) {
      // Yield before a family that would not fit in what is left of the slice (as long as it
      // took last time), and after a full slice.
      if (familyStartMs > sliceStartMs && familyStartMs - sliceStartMs + (this.lastCostMs.get(metric) ?? 0) > options.sliceMs) {
        await pause();
        sliceStartMs = familyStartMs = nowMs();
      }
      // Families that format themselves (nearly all of a node's) render synchronously: no
      // promise and no microtask turn per family, which cost as much as the formatting.
      parts.push(isSelfRendering(metric) ? this.renderSelf(metric) : await this.renderGettable(metric));
      const endMs = nowMs();
      this.lastCostMs.set(metric, endMs - familyStartMs);
      familyStartMs = endMs;
      if (endMs - sliceStartMs >= options.sliceMs) {
        await pause();
        sliceStartMs = familyStartMs = nowMs();
      }
    }
    return `${parts.join('\n\n')}\n`;
  }

  /** One family's text: header, then one line per sample (no trailing newline). */
  async renderFamily(metric: object): Promise<string> {
    return isSelfRendering(metric) ? this.renderSelf(metric) : this.renderGettable(metric);
  }

  private renderSelf(metric: SelfRenderingMetric): string {
    const { name, help, type } = metric as unknown as { name: string; help: string; type: string };
    const lines = metric.renderLines(this.defaults);
    return lines === '' ? this.header(metric, name, help, type) : `${this.header(metric, name, help, type)}\n${lines}`;
  }

  private async renderGettable(metric: object): Promise<string> {
    const gettable = metric as unknown as Gettable;
    const family = await (gettable.getForPromString !== undefined ? gettable.getForPromString() : gettable.get());
    let text = this.header(metric, family.name, family.help, family.type);
    for (const sample of family.values ?? ([] as readonly (FamilyValue | MetricValue<string>)[])) {
      const { value, labels, metricName, sharedLabels } = sample as FamilyValue;
      text += `\n${metricName ?? family.name}${formatLabelSet(labels, this.defaults, sharedLabels)} ${formatSampleValue(value)}`;
    }
    return text;
  }

  private header(metric: object, name: string, help: string, type: string): string {
    const cached = this.headers.get(metric);
    if (cached !== undefined && cached.name === name && cached.help === help && cached.type === type) return cached.text;
    const text = familyHeader(name, help, type);
    this.headers.set(metric, { name, help, type, text });
    return text;
  }
}
