/**
 * A small real monitoring stack on loopback, for the dashboard proof and the rendered pictures:
 * a 3-node PhantomDB cluster (test/cluster/harness.ts), the operator (a child process) against
 * the Kubernetes API test server with one PhantomCluster, and Debian's Prometheus scraping the
 * nodes (job phantomdb-datanode, namespace and cluster labels as the chart's PodMonitor sets
 * them) and the operator (job phantomdb-operator, honor_labels) every 2 seconds, with the alert
 * rules of grafana/alerts loaded. Plus a short KV workload, and the evaluation of every panel's
 * every query of every dashboard through Prometheus's HTTP API with the variables substituted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AdminClient } from '../../datanode/src/admin/client.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { startKubeTestServer, writeKubeconfig, type KubeTestServer } from '../kube/server.ts';
import { eventually, freePort, repoRoot, TestCluster } from '../cluster/harness.ts';
import { debianTool } from './tools.ts';

export const stackLabels = { namespace: 'phantomdb-test', cluster: 'obs' } as const;
/**
 * Scrapes every 2 s (a scrape may take a while on a loaded 2-core machine) and what Grafana would
 * put in $__rate_interval for it, with room: at least 4 scrapes.
 */
export const scrapeIntervalSeconds = 2;
export const rateInterval = '15s';

/** Named waits (2 shared cores: generous). */
export const stackTimeouts = { prometheusReady: 60_000, targetsUp: 60_000, scraped: 30_000, operatorReconciled: 60_000 } as const;

interface PromResponse<T> {
  readonly status: 'success' | 'error';
  readonly data: T;
  readonly error?: string;
}

export interface Series {
  readonly metric: Readonly<Record<string, string>>;
  readonly values: readonly (readonly [number, string])[];
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(config: string): Promise<PrometheusServer> {
    const binary = debianTool('prometheus', 'prometheus');
    const dir = mkdtempSync(join(tmpdir(), 'phantomdb-prometheus-'));
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const log = createWriteStream(join(dir, 'prometheus.log'));
    const child = spawn(binary, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1d', '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir);
    await eventually('Prometheus ready', stackTimeouts.prometheusReady, async () => ((await fetch(`${server.url}/-/ready`)).ok ? true : undefined));
    return server;
  }

  async api<T>(path: string, params: Readonly<Record<string, string>>): Promise<T> {
    const response = await fetch(`${this.url}/api/v1/${path}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(20_000) });
    const body = (await response.json()) as PromResponse<T>;
    if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.error ?? response.status}`);
    return body.data;
  }

  /** A range query over the last `seconds`, 1 s steps. */
  async queryRange(expr: string, endSeconds: number, seconds: number): Promise<Series[]> {
    const data = await this.api<{ result: Series[] }>('query_range', { query: expr, start: String(endSeconds - seconds), end: String(endSeconds), step: '1' });
    return data.result;
  }

  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const data = await this.api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>('query', { query: expr });
    return data.result;
  }

  log(): string {
    return logTail(join(this.dir, 'prometheus.log'));
  }

  async close(): Promise<void> {
    await stopChild(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The operator against the Kubernetes API test server, with one PhantomCluster to reconcile. */
class OperatorUnderTest {
  private constructor(
    readonly metricsPort: number,
    private readonly child: ChildProcess,
    private readonly server: KubeTestServer,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OperatorUnderTest> {
    const dir = mkdtempSync(join(tmpdir(), 'phantomdb-operator-obs-'));
    const server = await startKubeTestServer({ bookmarkIntervalMs: 1000 });
    try {
      return await OperatorUnderTest.launch(server, dir);
    } catch (err) {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private static async launch(server: KubeTestServer, dir: string): Promise<OperatorUnderTest> {
    const crdDir = join(repoRoot, 'crds');
    for (const name of readdirSync(crdDir).filter((file) => file.endsWith('.yaml'))) {
      for (const document of parseAllDocuments(readFileSync(join(crdDir, name), 'utf8'))) {
        const crd: unknown = document.toJS();
        if (typeof crd === 'object' && crd !== null) server.store.create({ group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions' }, '', crd as Record<string, never>);
      }
    }
    const kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfig, server.url);
    for (const name of [stackLabels.namespace, 'phantomdb-system']) server.store.create({ group: '', plural: 'namespaces' }, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    server.store.create({ group: 'phantomdb.io', plural: 'phantomclusters' }, stackLabels.namespace, {
      apiVersion: 'phantomdb.io/v1alpha1',
      kind: 'PhantomCluster',
      metadata: { name: stackLabels.cluster, namespace: stackLabels.namespace },
      spec: { replicas: 3, replicationFactor: 3, version: '0.1.0', storage: { size: '1Gi' } },
    });
    const metricsPort = await freePort();
    const log = createWriteStream(join(dir, 'operator.log'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator', 'src', 'main.ts'), '--metrics-port', String(metricsPort), '--health-port', '0'], {
      cwd: repoRoot,
      env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAMESPACE: 'phantomdb-system', POD_NAME: 'phantomdb-operator-obs', PHANTOMDB_LEADER_ELECTION_LEASE_DURATION_SECONDS: '6', PHANTOMDB_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '4', PHANTOMDB_LEADER_ELECTION_RETRY_PERIOD_SECONDS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    return new OperatorUnderTest(metricsPort, child, server, dir);
  }

  log(): string {
    return logTail(join(this.dir, 'operator.log'));
  }

  async close(): Promise<void> {
    await stopChild(this.child);
    await this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function prometheusConfig(nodeTargets: readonly string[], operatorTarget: string): string {
  const alertDir = join(repoRoot, 'grafana', 'alerts');
  const rules = readdirSync(alertDir).filter((file) => file.endsWith('.yaml')).map((file) => `  - ${join(alertDir, file)}`);
  return [
    'global:',
    `  scrape_interval: ${scrapeIntervalSeconds}s`,
    `  scrape_timeout: ${scrapeIntervalSeconds}s`,
    '  evaluation_interval: 1s',
    'rule_files:',
    ...rules,
    'scrape_configs:',
    '  - job_name: phantomdb-datanode',
    '    static_configs:',
    `      - targets: [${nodeTargets.map((t) => `'${t}'`).join(', ')}]`,
    `        labels: { namespace: ${stackLabels.namespace}, cluster: ${stackLabels.cluster} }`,
    '  - job_name: phantomdb-operator',
    '    honor_labels: true',
    '    static_configs:',
    `      - targets: ['${operatorTarget}']`,
    '',
  ].join('\n');
}

export class ObservabilityStack {
  private constructor(
    readonly cluster: TestCluster,
    readonly operator: OperatorUnderTest,
    readonly prometheus: PrometheusServer,
  ) {}

  static async start(): Promise<ObservabilityStack> {
    const cluster = await TestCluster.start({ size: 3 });
    let operator: OperatorUnderTest | undefined;
    try {
      operator = await OperatorUnderTest.start();
      const nodeTargets = cluster.nodes.map((node) => `127.0.0.1:${node.spec.httpPort}`);
      const prometheus = await PrometheusServer.start(prometheusConfig(nodeTargets, `127.0.0.1:${operator.metricsPort}`));
      return new ObservabilityStack(cluster, operator, prometheus);
    } catch (err) {
      await operator?.close();
      await cluster.close();
      throw err;
    }
  }

  /** Waits until Prometheus scrapes all four targets successfully. */
  async waitForTargets(): Promise<void> {
    await eventually('every target up in Prometheus', stackTimeouts.targetsUp, async () => {
      const up = await this.prometheus.query('up');
      return up.length === 4 && up.every((sample) => sample.value[1] === '1') ? true : undefined;
    });
  }

  /** Puts, gets, scans and admin calls against the cluster for `seconds`. */
  async runWorkload(seconds: number): Promise<{ puts: number; gets: number }> {
    const endpoints = this.cluster.kvEndpoints();
    const kv = new KvClient({ endpoints, clusterId: this.cluster.clusterId, deadlineMs: 10_000 });
    const admin = new AdminClient({ endpoints, clusterId: this.cluster.clusterId, deadlineMs: 10_000 });
    let puts = 0;
    let gets = 0;
    const endAt = performance.now() + seconds * 1000;
    try {
      await Promise.all(
        Array.from({ length: 4 }, async (_, worker) => {
          for (let i = 0; performance.now() < endAt; i++) {
            const key = `obs/${worker}/${i % 200}`;
            await kv.put(key, `value-${i}`);
            puts++;
            await kv.get(key);
            gets++;
            if (i % 50 === 0) await admin.clusterStatus();
          }
        }),
      );
    } finally {
      kv.close();
      admin.close();
    }
    return { puts, gets };
  }

  get operatorMetricsPort(): number {
    return this.operator.metricsPort;
  }

  logs(): string {
    return `${this.cluster.logs()}\n----- operator\n${this.operator.log()}\n----- prometheus\n${this.prometheus.log()}`;
  }

  async close(): Promise<void> {
    await this.prometheus.close();
    await this.operator.close();
    await this.cluster.close();
  }
}

// ------------------------------------------------------------------ dashboards

interface DashboardTarget {
  readonly expr: string;
  readonly legendFormat?: string;
  readonly refId: string;
}

interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: string; readonly mappings?: readonly { readonly options?: Record<string, { text: string }> }[] } };
  readonly targets?: readonly DashboardTarget[];
}

export interface DashboardJson {
  readonly uid: string;
  readonly title: string;
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string; readonly definition?: string }[] };
  readonly panels: readonly DashboardPanel[];
}

export interface EvaluatedTarget {
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat: string;
  readonly series: readonly Series[];
}

export interface EvaluatedPanel {
  readonly dashboard: string;
  readonly panel: DashboardPanel;
  readonly targets: readonly EvaluatedTarget[];
}

export function loadDashboards(): { file: string; dashboard: DashboardJson }[] {
  const dir = join(repoRoot, 'grafana', 'dashboards');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dir, file), 'utf8')) as DashboardJson }));
}

/** `$name` and `${name}` replaced by `values[name]`, longest names first. */
export function substitute(text: string, values: Readonly<Record<string, string>>): string {
  let result = text;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    const value = values[name] ?? '';
    result = result.split(`\${${name}}`).join(value).split(`$${name}`).join(value);
  }
  return result;
}

/**
 * The values Grafana would offer for each query variable (label_values(metric, label), earlier
 * variables substituted). Throws when a variable offers nothing.
 */
export async function variableValues(prometheus: PrometheusServer, dashboard: DashboardJson, chosen: Readonly<Record<string, string>>, endSeconds: number): Promise<Record<string, string[]>> {
  const offered: Record<string, string[]> = {};
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const match = /^label_values\((.+),\s*([a-zA-Z_]+)\)$/.exec(variable.definition ?? '');
    if (match === null) throw new Error(`${dashboard.uid}: variable ${variable.name} is not label_values(...): ${variable.definition ?? ''}`);
    const selector = substitute(match[1] ?? '', chosen);
    const series = await prometheus.api<Record<string, string>[]>('series', { 'match[]': selector, start: String(endSeconds - 300), end: String(endSeconds) });
    const values = [...new Set(series.map((labels) => labels[match[2] ?? ''] ?? '').filter((value) => value !== ''))].sort();
    if (values.length === 0) throw new Error(`${dashboard.uid}: variable ${variable.name} (${selector}) offers no value`);
    offered[variable.name] = values;
  }
  return offered;
}

/**
 * Every query of every panel of `dashboard`, evaluated over the last `seconds` with namespace and
 * cluster set to the stack's and node to All (Grafana's default, allValue ".*").
 */
export async function evaluateDashboard(prometheus: PrometheusServer, dashboard: DashboardJson, endSeconds: number, seconds: number): Promise<EvaluatedPanel[]> {
  const chosen = { namespace: stackLabels.namespace, cluster: stackLabels.cluster, node: '.*', __rate_interval: rateInterval };
  const offered = await variableValues(prometheus, dashboard, chosen, endSeconds);
  for (const name of ['namespace', 'cluster'] as const) {
    if (!(offered[name] ?? []).includes(chosen[name])) throw new Error(`${dashboard.uid}: variable ${name} does not offer ${chosen[name]} (offers ${JSON.stringify(offered[name])})`);
  }
  const panels: EvaluatedPanel[] = [];
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') continue;
    const targets: EvaluatedTarget[] = [];
    for (const target of panel.targets ?? []) {
      const expr = substitute(target.expr, chosen);
      targets.push({ refId: target.refId, expr, legendFormat: target.legendFormat ?? '', series: await prometheus.queryRange(expr, endSeconds, seconds) });
    }
    panels.push({ dashboard: dashboard.uid, panel, targets });
  }
  return panels;
}

/** SIGTERM, SIGKILL after 10 s, and wait for the exit (nothing to do if it already exited). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The last 4,000 characters of a log file ('' when it does not exist yet). */
function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-4000);
  } catch {
    return '';
  }
}
