import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from './hot.ts';

describe('hot metrics', () => {
  it('export cumulative buckets (an observation equal to a bound is in it), sum, count and default labels', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ node: '7' });
    const histogram = new HotHistogram(registry, 'x_seconds', 'x.', [0.1, 1]);
    const series = histogram.child({ op: 'put' });
    for (const value of [0.05, 0.1, 0.5, 3]) series.observe(value);
    expect(histogram.child({ op: 'put' })).toBe(series);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE x_seconds histogram');
    expect(text).toContain('x_seconds_bucket{le="0.1",op="put",node="7"} 2');
    expect(text).toContain('x_seconds_bucket{le="1",op="put",node="7"} 3');
    expect(text).toContain('x_seconds_bucket{le="+Inf",op="put",node="7"} 4');
    expect(text).toContain('x_seconds_sum{op="put",node="7"} 3.65');
    expect(text).toContain('x_seconds_count{op="put",node="7"} 4');
  });

  it('count per label set and refuse unordered buckets', async () => {
    const registry = new Registry();
    const counter = new HotCounter(registry, 'y_total', 'y.');
    counter.child({ result: 'ok' }).inc();
    counter.child({ result: 'ok' }).inc(2);
    counter.child({ result: 'PH_X' }).inc();
    const text = await registry.metrics();
    expect(text).toContain('# TYPE y_total counter');
    expect(text).toContain('y_total{result="ok"} 3');
    expect(text).toContain('y_total{result="PH_X"} 1');
    expect(() => new HotHistogram(new Registry(), 'z', 'z.', [1, 1])).toThrow(/increase/);
  });
});
