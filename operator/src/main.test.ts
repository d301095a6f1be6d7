/**
 * The operator program: --help, configuration from the chart's environment variables, and one
 * run against the API test server (leader Lease taken and released, objects created, /metrics
 * and health served).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoordinationV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, type KubeTestServer } from '../../test/kube/server.ts';
import { crdOf, kindDefinitions } from './api/index.ts';
import { eventually, kubeConfigFor, timeouts } from './kube/testing.ts';
import { loadOperatorConfig, runOperator } from './main.ts';
import { writeKubeconfig } from '../../test/kube/server.ts';

const execFileAsync = promisify(execFile);
let api: TestApi;

interface TestApi {
  readonly server: KubeTestServer;
  readonly kubeConfig: KubeConfig;
  close(): Promise<void>;
}

async function startTestApi(): Promise<TestApi> {
  const server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  return { server, kubeConfig: kubeConfigFor(server.url), close: () => server.close() };
}
let dir: string;

beforeAll(async () => {
  api = await startTestApi();
  dir = await mkdtemp(join(tmpdir(), 'phantomdb-operator-main-'));
  const definition = kindDefinitions[0];
  if (definition === undefined) throw new Error('no kinds');
  await fetch(`${api.server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(crdOf(definition)) });
});

afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

describe('phantomdb-operator', () => {
  it('prints its usage with --help', async () => {
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), '--help']);
    expect(stdout).toContain('Usage: phantomdb-operator');
    expect(stdout).toContain('PHANTOMDB_WATCH_NAMESPACES');
  });

  it('reads the chart\'s environment and refuses inconsistent leader election timing', () => {
    const config = loadOperatorConfig([], {
      PHANTOMDB_LEADER_ELECTION: 'true',
      PHANTOMDB_LEADER_ELECTION_LEASE_NAME: 'l',
      PHANTOMDB_LEADER_ELECTION_LEASE_NAMESPACE: 'ops',
      PHANTOMDB_WATCH_NAMESPACES: 'a, b',
      PHANTOMDB_METRICS_PORT: '9191',
      PHANTOMDB_HEALTH_PORT: '8181',
      POD_NAME: 'op-0',
    });
    expect(config).toMatchObject({ leaderElection: true, leaseName: 'l', leaseNamespace: 'ops', namespaces: ['a', 'b'], metricsPort: 9191, healthPort: 8181 });
    expect(config !== 'help' && config.identity.startsWith('op-0_')).toBe(true);
    expect(() => loadOperatorConfig([], { PHANTOMDB_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '20', POD_NAME: 'x' })).toThrow(/retry period < renew deadline < lease duration/);
  });

  it('leads, reconciles, serves metrics and health, and releases its Lease on stop', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfig, api.server.url);
    const config = loadOperatorConfig(['--kubeconfig', kubeconfig, '--metrics-port', '0', '--health-port', '0'], { POD_NAMESPACE: 'default', POD_NAME: 'op-0', PHANTOMDB_LOG_LEVEL: 'error' });
    if (config === 'help') throw new Error('unexpected help');
    const operator = await runOperator({ ...config, leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.2 });
    try {
      const custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
      await custom.createNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters', namespace: 'default', body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'smoke' }, spec: { version: '1.0.0', storage: { size: '1Gi' } } } });
      const apps = api.kubeConfig.makeApiClient(AppsV1Api);
      await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace: 'default' })).items.some((sts) => sts.metadata?.name === 'smoke'), timeouts.reconcile, 'the StatefulSet');
      const lease = await api.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'phantomdb-operator-leader', namespace: 'default' });
      expect(lease.spec?.holderIdentity).toBe(config.identity);
      // The StatefulSet appears mid-reconcile; the reconcile is counted once it ends.
      let metricsText = '';
      await eventually(
        async () => {
          metricsText = await (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
          return metricsText.includes('phantomdb_operator_reconcile_total{controller="phantomcluster"');
        },
        timeouts.reconcile,
        'a counted reconcile on /metrics',
      );
      expect(metricsText).toContain('phantomdb_operator_reconcile_total{controller="phantomcluster"');
      expect(metricsText).toContain('phantomdb_operator_leader 1');
      expect((await fetch(`http://127.0.0.1:${operator.healthPort}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${operator.healthPort}/readyz`)).status).toBe(200);
    } finally {
      await operator.stop();
    }
    const released = await api.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'phantomdb-operator-leader', namespace: 'default' });
    expect(released.spec?.holderIdentity ?? '').toBe('');
  });

  it('with two replicas only the leader reconciles; the standby takes over when the leader stops', async () => {
    const kubeconfig = join(dir, 'kubeconfig-two');
    await writeKubeconfig(kubeconfig, api.server.url);
    const start = async (name: string) => {
      const config = loadOperatorConfig(['--kubeconfig', kubeconfig, '--metrics-port', '0', '--health-port', '0', '--lease-name', 'two'], { POD_NAMESPACE: 'default', POD_NAME: name, PHANTOMDB_LOG_LEVEL: 'error' });
      if (config === 'help') throw new Error('unexpected help');
      return runOperator({ ...config, leaseDurationSeconds: 2, renewDeadlineSeconds: 1.5, retryPeriodSeconds: 0.2 });
    };
    const metricsOf = async (port: number): Promise<{ leader: boolean; reconciles: number }> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const reconciles = [...text.matchAll(/^phantomdb_operator_reconcile_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      return { leader: /^phantomdb_operator_leader 1$/m.test(text), reconciles };
    };
    const first = await start('op-a');
    await eventually(async () => (await metricsOf(first.metricsPort)).leader, timeouts.leaderFailover, 'op-a to lead');
    const second = await start('op-b');
    const custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters', namespace: 'default', body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'two' }, spec: { version: '1.0.0', storage: { size: '1Gi' } } } });
    await eventually(async () => (await metricsOf(first.metricsPort)).reconciles > 0, timeouts.reconcile, 'the leader to reconcile');
    expect(await metricsOf(second.metricsPort)).toEqual({ leader: false, reconciles: 0 });
    await first.stop();
    await custom.patchNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters', namespace: 'default', name: 'two', body: { spec: { paused: true } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await eventually(async () => (await metricsOf(second.metricsPort)).reconciles > 0, timeouts.leaderFailover, 'the standby to take over and reconcile');
    expect((await metricsOf(second.metricsPort)).leader).toBe(true);
    await second.stop();
  });
});
