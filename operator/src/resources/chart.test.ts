/**
 * The Helm chart charts/phantomdb-operator, checked with the real `helm` (scripts/get-helm.sh
 * fetches it from npm): it lints, renders, grants exactly the permissions in rbac.ts, sets image
 * tags, runs non-root with leader election, and ships the CRDs of crds/ unchanged.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { operatorPermissions, permissionTuples, type OperatorPermission, type Verb } from './rbac.ts';

const execFileAsync = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..', '..', '..');
const chartDir = join(repoRoot, 'charts', 'phantomdb-operator');
const namespace = 'phantomdb-system';

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [key: string]: unknown;
}

interface Rule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

let helm: string;

async function runHelm(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(helm, args, { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 });
  return stdout;
}

async function render(...extra: string[]): Promise<Manifest[]> {
  const text = await runHelm('template', 'phantomdb', chartDir, '--namespace', namespace, '--include-crds', ...extra);
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

function only(manifests: readonly Manifest[], kind: string): Manifest {
  const matching = manifests.filter((manifest) => manifest.kind === kind);
  expect(matching, kind).toHaveLength(1);
  const [first] = matching;
  if (first === undefined) throw new Error(`no ${kind}`);
  return first;
}

/** Rules of a rendered role as permission tuples of `scope`. */
function granted(role: Manifest, scope: OperatorPermission['scope']): string[] {
  const rules = (role['rules'] ?? []) as Rule[];
  const permissions: OperatorPermission[] = rules.flatMap((rule) =>
    rule.apiGroups.flatMap((apiGroup) => rule.resources.map((resource) => ({ apiGroup, resource, verbs: rule.verbs as Verb[], scope, reason: '' }))),
  );
  return permissionTuples(permissions);
}

beforeAll(() => {
  helm = execFileSync(join(repoRoot, 'scripts', 'get-helm.sh'), { encoding: 'utf8', timeout: 300_000 }).trim();
}, 300_000);

describe('helm chart', () => {
  it('lints cleanly with default values and with monitoring enabled', async () => {
    await runHelm('lint', '--strict', chartDir);
    await runHelm('lint', '--strict', chartDir, '--set', 'metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true');
  });

  it('grants exactly the permissions the operator lists, no more', async () => {
    const manifests = await render();
    const clusterRole = only(manifests, 'ClusterRole');
    const role = only(manifests, 'Role');
    expect(role.metadata.namespace).toBe(namespace);
    const rendered = [...granted(clusterRole, 'cluster'), ...granted(role, 'operator-namespace')].sort();
    expect(rendered).toEqual(permissionTuples(operatorPermissions).sort());
    for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
      const binding = only(manifests, kind);
      expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: only(manifests, 'ServiceAccount').metadata.name, namespace }]);
    }
  });

  it('runs two non-root replicas with leader election, probes and a metrics port, on a pinned image', async () => {
    const manifests = await render();
    const deployment = only(manifests, 'Deployment') as Manifest & { spec: { replicas: number; template: { spec: PodSpec } } };
    interface PodSpec {
      serviceAccountName: string;
      securityContext: { runAsNonRoot: boolean };
      containers: { image: string; env: { name: string; value?: string }[]; ports: { name: string; containerPort: number }[]; livenessProbe?: unknown; readinessProbe?: unknown; securityContext: { allowPrivilegeEscalation: boolean } }[];
    }
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.serviceAccountName).toBe(only(manifests, 'ServiceAccount').metadata.name);
    const [container] = pod.containers;
    if (container === undefined) throw new Error('no container');
    const appVersion = (parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion;
    expect(container.image).toBe(`ghcr.io/phantomdb/phantomdb-operator:${appVersion}`);
    expect(container.image).not.toMatch(/:latest$|:$/);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.livenessProbe).toBeDefined();
    expect(container.readinessProbe).toBeDefined();
    const env = new Map(container.env.map((variable) => [variable.name, variable.value]));
    expect(env.get('PHANTOMDB_LEADER_ELECTION')).toBe('true');
    expect(env.get('PHANTOMDB_DATA_NODE_IMAGE_REPOSITORY')).toBe('ghcr.io/phantomdb/phantomdb-node');
    expect(container.ports.map((port) => port.name)).toContain('metrics');
    const service = manifests.find((manifest) => manifest.kind === 'Service') as (Manifest & { spec: { ports: { port: number }[] } }) | undefined;
    expect(service?.spec.ports[0]?.port).toBe(container.ports.find((port) => port.name === 'metrics')?.containerPort);
    const tagged = await render('--set', 'image.tag=1.2.3');
    expect(JSON.stringify(only(tagged, 'Deployment'))).toContain('ghcr.io/phantomdb/phantomdb-operator:1.2.3');
  });

  it('ships the CRDs of crds/ unchanged', async () => {
    const rendered = (await render()).filter((manifest) => manifest.kind === 'CustomResourceDefinition');
    const files = readdirSync(join(repoRoot, 'crds')).filter((name) => name.endsWith('.yaml'));
    expect(rendered.map((crd) => crd.metadata.name).sort()).toEqual(files.map((name) => name.replace(/\.yaml$/, '')).sort());
    for (const name of files) {
      const expected = parse(readFileSync(join(repoRoot, 'crds', name), 'utf8')) as Manifest;
      expect(rendered.find((crd) => crd.metadata.name === expected.metadata.name)).toEqual(expected);
      expect(readFileSync(join(chartDir, 'crds', name), 'utf8')).toBe(readFileSync(join(repoRoot, 'crds', name), 'utf8'));
    }
  });

  it('renders the ServiceMonitor and PrometheusRule only when asked', async () => {
    const plain = await render();
    expect(plain.map((manifest) => manifest.kind)).not.toContain('ServiceMonitor');
    expect(plain.map((manifest) => manifest.kind)).not.toContain('PrometheusRule');
    const monitored = await render('--set', 'metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true');
    const monitor = only(monitored, 'ServiceMonitor') as Manifest & { spec: { endpoints: { port: string }[] } };
    expect(monitor.spec.endpoints[0]?.port).toBe('metrics');
    const rules = only(monitored, 'PrometheusRule') as Manifest & { spec: { groups: { rules: { alert: string }[] }[] } };
    expect(rules.spec.groups[0]?.rules.map((rule) => rule.alert)).toContain('PhantomDBOperatorDown');
  });

  it('refuses values that values.schema.json forbids', async () => {
    await expect(runHelm('template', 'phantomdb', chartDir, '--set', 'replicaCount=0')).rejects.toThrow(/replicaCount/);
    await expect(runHelm('template', 'phantomdb', chartDir, '--set', 'image.pullPolicy=Sometimes')).rejects.toThrow(/pullPolicy/);
    await expect(runHelm('template', 'phantomdb', chartDir, '--set', 'unknownValue=1')).rejects.toThrow(/unknownValue/);
  });
});
