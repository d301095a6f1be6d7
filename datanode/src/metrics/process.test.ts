import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ExpositionRenderer } from './exposition.ts';
import { ScrapeScope } from './mirrored.ts';
import { constructorName, countBy, countOpenFds, parseProcStatus, ProcStatusReader, readMaxFds, registerProcessMetrics } from './process.ts';

const headers = (text: string): string[] => text.split('\n').filter((line) => line.startsWith('#'));
const valueOf = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
};
/** Every `name{labels}` of family `name` in `text` (its samples' series, without values). */
const seriesOf = (text: string, name: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => line.slice(0, line.lastIndexOf(' ')));

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** Our process metrics and prom-client's defaults, each in a registry with the node's default label. */
function bothRegistries(): { ours: Registry; theirs: Registry; render: () => Promise<string> } {
  const ours = new Registry();
  ours.setDefaultLabels({ node: '2' });
  const scope = new ScrapeScope();
  stops.push(registerProcessMetrics(ours, 'phantomdb_', scope, 100));
  const theirs = new Registry();
  theirs.setDefaultLabels({ node: '2' });
  collectDefaultMetrics({ register: theirs, prefix: 'phantomdb_', eventLoopMonitoringPrecision: 2 ** 31 - 1 });
  const renderer = new ExpositionRenderer(ours, { node: '2' });
  const render = async (): Promise<string> => {
    const end = scope.begin();
    try {
      return await renderer.render({ sliceMs: 0.25 });
    } finally {
      end();
    }
  };
  return { ours, theirs, render };
}

describe("the node's process metrics", () => {
  it("have prom-client's families in its order, with the same help, types and label names", async () => {
    const { ours, theirs, render } = bothRegistries();
    expect(ours.getMetricsAsArray().map((m) => m.name)).toEqual(theirs.getMetricsAsArray().map((m) => m.name));
    const ourText = await render();
    const theirText = await theirs.metrics();
    expect(headers(ourText)).toEqual(headers(theirText));
    // The same series where prom-client's are stable (not the ones counting what a scrape itself opens).
    for (const name of ['phantomdb_nodejs_heap_space_size_total_bytes', 'phantomdb_nodejs_version_info', 'phantomdb_process_cpu_seconds_total', 'phantomdb_process_max_fds', 'phantomdb_process_resident_memory_bytes']) {
      expect(seriesOf(ourText, name), name).toEqual(seriesOf(theirText, name));
      expect(seriesOf(ourText, name).length, name).toBeGreaterThan(0);
    }
    // Through prom-client's own registry text too (registry.metrics(), used by nothing on a
    // node's hot path but kept working): the same families and headers.
    expect(headers(await ours.metrics())).toEqual(headers(theirText));
  });

  it('read values that agree with the process: CPU, memory, descriptors, handles, heap spaces, version', async () => {
    const { render, theirs } = bothRegistries();
    const files = Array.from({ length: 40 }, () => fs.openSync(process.execPath, 'r'));
    const server = net.createServer().listen(0);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const before = process.cpuUsage();
      const text = await render();
      const after = process.cpuUsage();
      const cpu = valueOf(text, 'phantomdb_process_cpu_seconds_total{node="2"}');
      expect(cpu).toBeGreaterThanOrEqual((before.user + before.system) / 1e6);
      expect(cpu).toBeLessThanOrEqual((after.user + after.system) / 1e6);
      expect(valueOf(text, 'phantomdb_process_cpu_user_seconds_total{node="2"}') + valueOf(text, 'phantomdb_process_cpu_system_seconds_total{node="2"}')).toBeCloseTo(cpu, 5);
      const theirText = await theirs.metrics();
      const rss = valueOf(text, 'phantomdb_process_resident_memory_bytes{node="2"}');
      expect(Math.abs(rss - valueOf(theirText, 'phantomdb_process_resident_memory_bytes{node="2"}')) / rss).toBeLessThan(0.1);
      expect(valueOf(text, 'phantomdb_process_virtual_memory_bytes{node="2"}')).toBeGreaterThan(rss);
      expect(valueOf(text, 'phantomdb_process_heap_bytes{node="2"}')).toBeGreaterThan(0);
      // Open descriptors count the 40 files; closing them shows at the next scrape.
      const open = valueOf(text, 'phantomdb_process_open_fds{node="2"}');
      expect(open).toBe(fs.readdirSync('/proc/self/fd').length - 1);
      for (const fd of files.splice(0)) fs.closeSync(fd);
      expect(valueOf(await render(), 'phantomdb_process_open_fds{node="2"}')).toBe(open - 40);
      // Handles and resources by type, as prom-client counts them (the listening server among them).
      expect(valueOf(text, 'phantomdb_nodejs_active_handles{type="Server",node="2"}')).toBeGreaterThanOrEqual(1);
      expect(valueOf(text, 'phantomdb_nodejs_active_resources{type="TCPServerWrap",node="2"}')).toBeGreaterThanOrEqual(1);
      expect(valueOf(text, 'phantomdb_nodejs_active_handles_total{node="2"}')).toBeGreaterThanOrEqual(1);
      expect(valueOf(text, 'phantomdb_nodejs_heap_space_size_used_bytes{space="old",node="2"}')).toBeGreaterThan(0);
      const [major, minor, patch] = process.version.slice(1).split('.');
      expect(valueOf(text, `phantomdb_nodejs_version_info{version="${process.version}",major="${major}",minor="${minor}",patch="${patch}",node="2"}`)).toBe(1);
    } finally {
      for (const fd of files) fs.closeSync(fd);
      server.close();
    }
  });

  it('observes garbage collections by kind', async () => {
    const { render } = bothRegistries();
    // Enough short-lived garbage for several scavenges of the young generation.
    let kept = 0;
    for (let round = 0; round < 200; round++) kept += Array.from({ length: 10_000 }, (_, i) => ({ i })).length;
    expect(kept).toBe(2_000_000);
    await sleep(50);
    const text = await render();
    expect(valueOf(text, 'phantomdb_nodejs_gc_duration_seconds_count{kind="minor",node="2"}')).toBeGreaterThan(0);
    expect(valueOf(text, 'phantomdb_nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor",node="2"}')).toBe(valueOf(text, 'phantomdb_nodejs_gc_duration_seconds_count{kind="minor",node="2"}'));
  });
});

describe('the process readings', () => {
  it('parse VmSize, VmRSS and VmData from /proc/self/status text, and leave out what is missing', () => {
    const text = 'Name:\tnode\nVmPeak:\t 2000 kB\nVmSize:\t  1000 kB\nVmRSS:\t    200 kB\nVmData:\t 300 kB\nVmStk:\t 132 kB\n';
    expect(parseProcStatus(text)).toEqual({ virtualBytes: 1000 * 1024, residentBytes: 200 * 1024, dataBytes: 300 * 1024 });
    expect(parseProcStatus('Name:\tnode\nVmRSS:\t 5 kB')).toEqual({ residentBytes: 5 * 1024 });
    expect(parseProcStatus('')).toEqual({});
  });

  it('count descriptors, read the open-files limit, and group handles by constructor in first-seen order', () => {
    expect(countOpenFds()).toBe(fs.readdirSync('/proc/self/fd').length - 1);
    expect(readMaxFds()).toBeGreaterThan(0);
    class Socket {
      readonly fd = 3;
    }
    class Timer {
      readonly ms = 10;
    }
    expect(countBy([new Socket(), new Timer(), new Socket(), null, undefined], constructorName)).toEqual([
      { labels: { type: 'Socket' }, total: 2 },
      { labels: { type: 'Timer' }, total: 1 },
    ]);
  });
});

describe('ProcStatusReader', () => {
  it('reads fresh values through its kept-open descriptor, and reopens after close', () => {
    const reader = new ProcStatusReader();
    try {
      const first = reader.read();
      expect(first.residentBytes).toBeGreaterThan(0);
      const ballast = Buffer.alloc(64 * 1024 * 1024, 1);
      const second = reader.read();
      expect(ballast[ballast.length - 1]).toBe(1);
      expect(second.residentBytes ?? 0).toBeGreaterThan((first.residentBytes ?? 0) + 32 * 1024 * 1024);
      reader.close();
      expect(reader.read().virtualBytes).toBeGreaterThan(0);
    } finally {
      reader.close();
    }
  });
});
