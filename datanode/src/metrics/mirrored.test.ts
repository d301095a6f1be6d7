import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ExpositionRenderer } from './exposition.ts';
import { mirroredCounter, scrapedGauge, type Total } from './mirrored.ts';

type Read = () => Total<'peer' | 'direction'>[];

/** The counter mirroredCounter replaced: a prom-client Counter reset and incremented by every total at collect time. */
function promClientMirror(registry: Registry, name: string, labelNames: ('peer' | 'direction')[], read: Read): void {
  new Counter({
    name,
    help: `help of ${name}`,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      let series = 0;
      for (const { labels, total } of read()) {
        this.inc(labels, Math.max(0, total));
        series++;
      }
      if (series === 0 && labelNames.length === 0) this.remove();
    },
  });
}

/** The gauge scrapedGauge replaced: a prom-client Gauge reset and set to every value at collect time. */
function promClientGauge(registry: Registry, name: string, labelNames: ('peer' | 'direction')[], read: Read): void {
  const gauge: Gauge<'peer' | 'direction'> = new Gauge({
    name,
    help: `help of ${name}`,
    labelNames,
    registers: [registry],
    collect() {
      gauge.reset();
      for (const { labels, total } of read()) gauge.set(labels, total);
    },
  });
}

describe('scraped counters and gauges', () => {
  it('export what a prom-client counter incremented by the same totals exports, scrape after scrape', async () => {
    let totals = { sent: 5, received: 7 };
    let peers = ['1', '3'];
    let present = true;
    const cases: { name: string; labelNames: ('peer' | 'direction')[]; read: Read }[] = [
      { name: 'labelled_total', labelNames: ['peer', 'direction'], read: () => peers.flatMap((peer) => [{ labels: { peer, direction: 'sent' }, total: totals.sent }, { labels: { peer, direction: 'received' }, total: totals.received }]) },
      // The same label set twice sums; a negative total counts as 0.
      { name: 'repeated_total', labelNames: ['peer'], read: () => [{ labels: { peer: '1' }, total: 2 }, { labels: { peer: '1' }, total: totals.sent }, { labels: { peer: 'a "quoted"\\ peer' }, total: -4 }] },
      { name: 'unlabelled_total', labelNames: [], read: () => (present ? [{ labels: {}, total: totals.sent * 1.5 }] : []) },
      { name: 'empty_total', labelNames: ['peer'], read: () => [] },
    ];
    const gauges: typeof cases = [
      { name: 'labelled_gauge', labelNames: ['peer', 'direction'], read: () => peers.map((peer) => ({ labels: { peer, direction: 'sent' }, total: -totals.sent })) },
      // The same label set twice: the last value counts.
      { name: 'repeated_gauge', labelNames: ['peer'], read: () => [{ labels: { peer: '1' }, total: 2 }, { labels: { peer: '2' }, total: 0.25 }, { labels: { peer: '1' }, total: totals.received }] },
      // Without a value an unlabelled gauge reads 0.
      { name: 'unlabelled_gauge', labelNames: [], read: () => (present ? [{ labels: {}, total: totals.sent / 4 }] : []) },
      { name: 'empty_gauge', labelNames: ['peer'], read: () => [] },
    ];
    const ours = new Registry();
    const theirs = new Registry();
    for (const registry of [ours, theirs]) registry.setDefaultLabels({ node: '2' });
    for (const { name, labelNames, read } of cases) {
      mirroredCounter(ours, name, `help of ${name}`, labelNames, read);
      promClientMirror(theirs, name, labelNames, read);
    }
    for (const { name, labelNames, read } of gauges) {
      scrapedGauge(ours, name, `help of ${name}`, labelNames, read);
      promClientGauge(theirs, name, labelNames, read);
    }
    const renderer = new ExpositionRenderer(ours, { node: '2' });
    const scrapes: string[] = [];
    for (const change of [() => undefined, () => (totals = { sent: 11, received: 0 }), () => (peers = ['3', '4']), () => (present = false)]) {
      change();
      const expected = await theirs.metrics();
      expect(await renderer.render({ sliceMs: 0 })).toBe(expected);
      expect(await ours.metrics()).toBe(expected);
      scrapes.push(expected);
    }
    // The scrapes saw the totals change (the rendered text is not kept between scrapes).
    expect(scrapes[0]).toContain('labelled_total{peer="1",direction="sent",node="2"} 5');
    expect(scrapes[1]).toContain('labelled_total{peer="1",direction="sent",node="2"} 11');
    expect(scrapes[1]).toContain('repeated_total{peer="1",node="2"} 13');
    expect(scrapes[2]).toContain('labelled_total{peer="4",direction="received",node="2"} 0');
    expect(scrapes[2]).not.toContain('peer="1",direction');
    expect(scrapes[2]).toContain('unlabelled_total{node="2"} 16.5');
    expect(scrapes[3]).not.toMatch(/^unlabelled_total/m);
    expect(scrapes[0]).toContain('labelled_gauge{peer="3",direction="sent",node="2"} -5');
    expect(scrapes[0]).toContain('repeated_gauge{peer="1",node="2"} 7');
    expect(scrapes[1]).toContain('repeated_gauge{peer="1",node="2"} 0');
    expect(scrapes[2]).toContain('unlabelled_gauge{node="2"} 2.75');
    expect(scrapes[3]).toContain('unlabelled_gauge{node="2"} 0');
  });
});
