/**
 * The per-node export cost line: one report per busy period (first export's start to the last
 * one's end), whose event-loop delay sees a synchronous slice taken meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { describeExportActivity, type ExportActivitySummary, ExportActivityMonitor, mainThreadCpuSeconds } from './export-monitor.ts';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ExportActivityMonitor', () => {
  it('reports once per busy period, with the longest event-loop stall in it', async () => {
    const reports: ExportActivitySummary[] = [];
    const monitor = new ExportActivityMonitor((summary) => reports.push(summary));
    monitor.begin();
    monitor.begin();
    await tick(50);
    // A synchronous slice of 60 ms of this process's CPU time (not of wall time: on a loaded
    // machine a 60 ms wall-clock spin may get only a part of a core): the histogram must see a
    // delay of at least that and the CPU figures at least that much work.
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    while (process.cpuUsage(cpuStart).user + process.cpuUsage(cpuStart).system < 60_000 || performance.now() - wallStart < 60) {
      // busy
    }
    await tick(50);
    monitor.end();
    expect(reports).toEqual([]);
    monitor.end();
    expect(reports.length).toBe(1);
    const report = reports[0] as ExportActivitySummary;
    expect(report.pieces).toBe(2);
    expect(report.loopDelayMaxMs).toBeGreaterThanOrEqual(40);
    expect(report.seconds).toBeGreaterThanOrEqual(0.1);
    expect(report.processCpuSeconds).toBeGreaterThan(0.03);
    if (process.platform === 'linux') expect(report.mainThreadCpuSeconds).toBeGreaterThan(0.03);
    expect(describeExportActivity(report)).toMatch(/^backup exports: [\d.]+ s busy, 2 pieces; event loop delay p99 [\d.]+ ms, max [\d.]+ ms; CPU /);
    // A new period counts afresh.
    monitor.begin();
    monitor.end();
    expect(reports.length).toBe(2);
    expect(reports[1]?.pieces).toBe(1);
  });

  it('reads the main thread CPU time on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(mainThreadCpuSeconds()).toBeGreaterThan(0);
  });
});
