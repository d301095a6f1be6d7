/**
 * What the Helm chart ships for monitoring, rendered with the real `helm` (scripts/get-helm.sh):
 * the PrometheusRule holds exactly the rules of grafana/alerts/, the dashboards become ConfigMaps
 * labelled for Grafana's sidecar (grafana_dashboard: "1") holding the dashboards of
 * grafana/dashboards/, and the PodMonitor and ServiceMonitor give targets the job, namespace and
 * cluster labels that the rules and dashboards query. Nothing of it renders unless asked.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const execFileAsync = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..', '..');
const chartDir = join(repoRoot, 'charts', 'phantomdb-operator');

interface Manifest {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly data?: Record<string, string>;
  readonly spec?: Record<string, unknown>;
}

let helm: string;

async function render(...sets: string[]): Promise<Manifest[]> {
  const { stdout } = await execFileAsync(helm, ['template', 'phantomdb', chartDir, '--namespace', 'phantomdb-system', ...sets.flatMap((s) => ['--set', s])], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null);
}

beforeAll(() => {
  helm = execFileSync(join(repoRoot, 'scripts', 'get-helm.sh'), { encoding: 'utf8', timeout: 300_000 }).trim();
}, 300_000);

describe('helm chart: monitoring', () => {
  it('lints cleanly with every monitoring option on', async () => {
    const { stdout } = await execFileAsync(helm, ['lint', '--strict', chartDir, '--set', 'metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true,metrics.prometheusRule.enabled=true,grafana.dashboards.enabled=true'], { timeout: 60_000 });
    expect(stdout).toContain('0 chart(s) failed');
  });

  it('renders no monitoring objects by default', async () => {
    const kinds = (await render()).map((m) => m.kind);
    for (const kind of ['PrometheusRule', 'PodMonitor', 'ServiceMonitor']) expect(kinds).not.toContain(kind);
    expect((await render()).filter((m) => m.metadata.labels?.grafana_dashboard !== undefined)).toEqual([]);
  });

  it('ships exactly the rules of grafana/alerts in its PrometheusRule', async () => {
    const manifests = await render('metrics.prometheusRule.enabled=true');
    const rule = manifests.find((m) => m.kind === 'PrometheusRule');
    const expected = readdirSync(join(repoRoot, 'grafana', 'alerts'))
      .filter((file) => file.endsWith('.yaml'))
      .flatMap((file) => (parse(readFileSync(join(repoRoot, 'grafana', 'alerts', file), 'utf8')) as { groups: unknown[] }).groups);
    const groups = (rule?.spec?.groups ?? []) as { name: string }[];
    expect(groups.map((g) => g.name).sort()).toEqual((expected as { name: string }[]).map((g) => g.name).sort());
    for (const group of expected as { name: string }[]) expect(groups.find((g) => g.name === group.name)).toEqual(group);
  });

  it('ships every dashboard as a ConfigMap labelled for the Grafana sidecar', async () => {
    const manifests = await render('grafana.dashboards.enabled=true', 'grafana.dashboards.namespace=monitoring');
    const maps = manifests.filter((m) => m.kind === 'ConfigMap' && m.metadata.labels?.grafana_dashboard === '1');
    const files = readdirSync(join(repoRoot, 'grafana', 'dashboards')).filter((f) => f.endsWith('.json')).sort();
    expect(maps).toHaveLength(files.length);
    for (const file of files) {
      const map = maps.find((m) => m.data?.[file] !== undefined);
      expect(map?.metadata.namespace, file).toBe('monitoring');
      expect(JSON.parse(map?.data?.[file] ?? '{}'), file).toEqual(JSON.parse(readFileSync(join(repoRoot, 'grafana', 'dashboards', file), 'utf8')));
    }
  });

  it('labels scrape targets the way the rules and dashboards expect', async () => {
    const manifests = await render('metrics.podMonitor.enabled=true', 'metrics.serviceMonitor.enabled=true');
    const pods = manifests.find((m) => m.kind === 'PodMonitor');
    const endpoint = ((pods?.spec?.podMetricsEndpoints ?? []) as { port: string; path: string; relabelings: { targetLabel: string; replacement?: string; sourceLabels?: string[] }[] }[])[0];
    expect(endpoint?.port).toBe('http');
    expect(endpoint?.path).toBe('/metrics');
    expect(endpoint?.relabelings).toContainEqual({ targetLabel: 'job', replacement: 'phantomdb-datanode' });
    expect(endpoint?.relabelings).toContainEqual({ sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_instance'], targetLabel: 'cluster' });
    expect(pods?.spec?.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'phantomdb', 'app.kubernetes.io/component': 'database' } });
    const service = manifests.find((m) => m.kind === 'ServiceMonitor');
    const operatorEndpoint = ((service?.spec?.endpoints ?? []) as { honorLabels: boolean; relabelings: unknown[] }[])[0];
    expect(operatorEndpoint?.honorLabels).toBe(true);
    expect(operatorEndpoint?.relabelings).toContainEqual({ targetLabel: 'job', replacement: 'phantomdb-operator' });
  });
});
