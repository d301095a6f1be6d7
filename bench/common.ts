/**
 * Shared pieces of the benchmarks: the result file shape every benchmark writes, machine
 * description, percentiles, and a Markdown table writer for docs/benchmarks.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface BenchRow {
  readonly workload: string;
  readonly system: string;
  readonly opsPerSec: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly [extra: string]: unknown;
}

export interface BenchResult {
  readonly machine: string;
  readonly startedAt: string;
  readonly rows: BenchRow[];
  readonly [extra: string]: unknown;
}

export function machineDescription(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

/** The p-th percentile (0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/**
 * utime + stime of a process in seconds, every thread included (/proc/<pid>/stat fields 14 and
 * 15, in clock ticks of 10 ms); 0 where /proc is missing or the process is gone.
 */
export function processCpuSeconds(pid: number | undefined): number {
  return pid === undefined ? 0 : cpuSecondsOf(`/proc/${pid}/stat`);
}

/**
 * utime + stime of a process's main thread only (/proc/<pid>/task/<pid>/stat): the JavaScript
 * thread, without the worker threads (compaction), libuv's pool (fsync) and V8's helpers.
 */
export function mainThreadCpuSeconds(pid: number | undefined): number {
  return pid === undefined ? 0 : cpuSecondsOf(`/proc/${pid}/task/${pid}/stat`);
}

function cpuSecondsOf(statFile: string): number {
  try {
    const stat = fs.readFileSync(statFile, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ: 100 on Linux for every architecture Node.js supports
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return 0;
  }
}

export const repoRoot = path.resolve(import.meta.dirname, '..');

export function writeResult(name: string, result: BenchResult): string {
  const file = path.join(repoRoot, 'bench/results', `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/**
 * Replaces the section between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` in
 * docs/benchmarks.md (adding it at the end when absent).
 */
export function updateBenchmarksDoc(name: string, markdown: string): void {
  const file = path.join(repoRoot, 'docs/benchmarks.md');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  let doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n\nEvery table here was produced by a `bench/` script on the machine it names, with PhantomDB and its anchors measured side by side in the same run.\n';
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  doc = a >= 0 && b > a ? doc.slice(0, a) + block + doc.slice(b + end.length) : `${doc.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, doc);
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A wrong setting or argument: the benchmark prints the message alone and exits with 2. */
export class UsageError extends Error {}

/**
 * The benchmarks take their settings from environment variables; the command line carries only
 * --help. Returns true when help was asked for (and printed); throws UsageError on any other argument.
 */
export function helpRequested(help: string, argv: readonly string[] = process.argv.slice(2)): boolean {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(help);
    return true;
  }
  const unknown = argv.find((arg) => arg !== '--help' && arg !== '-h');
  if (unknown !== undefined) throw new UsageError(`unknown argument ${JSON.stringify(unknown)}: settings are environment variables (see --help)`);
  return false;
}
