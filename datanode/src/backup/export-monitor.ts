/**
 * What a node's backup exports cost the clients it serves: while at least one export runs, the
 * event loop's delay (perf_hooks histogram: how late timers fire, i.e. the longest synchronous
 * slices) and the CPU split between the main thread (which serves clients) and the rest of the
 * process (the export thread, libuv's pool). One log line per busy period, e.g.
 *   backup exports: 4.2 s busy, 3 pieces; event loop delay p99 12.1 ms, max 31.0 ms; CPU main thread 1.10 s, other threads 3.52 s
 * so a benchmark or an operator can tell whether a backup slows the node down, and how.
 */
import { readFileSync } from 'node:fs';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** CPU seconds of this process's main thread (Linux /proc; undefined elsewhere). */
export function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ": utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

export interface ExportActivitySummary {
  readonly seconds: number;
  readonly pieces: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  readonly mainThreadCpuSeconds: number | undefined;
  readonly processCpuSeconds: number;
}

export function describeExportActivity(s: ExportActivitySummary): string {
  const main = s.mainThreadCpuSeconds;
  const cpu = main === undefined ? `CPU ${s.processCpuSeconds.toFixed(2)} s` : `CPU main thread ${main.toFixed(2)} s, other threads ${Math.max(0, s.processCpuSeconds - main).toFixed(2)} s`;
  return `backup exports: ${s.seconds.toFixed(1)} s busy, ${s.pieces} pieces; event loop delay p99 ${s.loopDelayP99Ms.toFixed(1)} ms, max ${s.loopDelayMaxMs.toFixed(1)} ms; ${cpu}`;
}

/** Counts running exports; measures from the first one's start to the last one's end. */
export class ExportActivityMonitor {
  private active = 0;
  private pieces = 0;
  private histogram: IntervalHistogram | undefined;
  private started = { ms: 0, cpu: process.cpuUsage(), main: undefined as number | undefined };

  constructor(private readonly report: (summary: ExportActivitySummary) => void) {}

  begin(): void {
    this.pieces++;
    if (this.active++ > 0) return;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.started = { ms: performance.now(), cpu: process.cpuUsage(), main: mainThreadCpuSeconds() };
  }

  end(): void {
    if (--this.active > 0) return;
    const histogram = this.histogram;
    this.histogram = undefined;
    histogram?.disable();
    const cpu = process.cpuUsage(this.started.cpu);
    const main = mainThreadCpuSeconds();
    this.report({
      seconds: (performance.now() - this.started.ms) / 1000,
      pieces: this.pieces,
      loopDelayP99Ms: (histogram?.percentile(99) ?? 0) / 1e6,
      loopDelayMaxMs: (histogram?.max ?? 0) / 1e6,
      mainThreadCpuSeconds: main === undefined || this.started.main === undefined ? undefined : main - this.started.main,
      processCpuSeconds: (cpu.user + cpu.system) / 1e6,
    });
    this.pieces = 0;
  }
}
