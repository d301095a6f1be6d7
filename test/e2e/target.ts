/**
 * Where the e2e scenarios run. The scenarios only talk Kubernetes (client-node, kubectl) and the
 * data nodes' KV API, plus two fault actions that depend on the target:
 *
 * - `local` (default): the Kubernetes API test server in this process, its StatefulSet
 *   controller, cluster DNS and kubelet (real `phantomdb-node` processes), the CRDs from crds/,
 *   and the operator (operator/src/main.ts) as a child process.
 * - `external` (PHANTOMDB_E2E_TARGET=external): a real cluster, e.g. kind (test/e2e/kind/run.sh),
 *   with the operator installed by Helm. Credentials come from KUBECONFIG or the in-cluster
 *   service account, so the suite can run in a pod inside the cluster, where pod IPs and pod DNS
 *   names are reachable. PHANTOMDB_E2E_OPERATOR_NAMESPACE (default phantomdb-system) and
 *   PHANTOMDB_E2E_OPERATOR_SELECTOR (default app.kubernetes.io/name=phantomdb-operator) find the
 *   operator's pods.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { installHostsOverride } from '../../datanode/src/node/hosts-override.ts';
import { isObject } from '../kube/json.ts';
import { installWorkloadControllers, type WorkloadControllers } from '../kube/kubelet.ts';
import { startKubeTestServer, writeKubeconfig, type KubeTestServer } from '../kube/server.ts';
import { kubectl, type CommandResult } from './support.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
export const operatorEntry = join(repoRoot, 'operator', 'src', 'main.ts');

export interface E2eTarget {
  readonly kind: 'local' | 'external';
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  /** Runs kubectl against the target. */
  kubectl(args: readonly string[], input?: string): Promise<CommandResult>;
  /** Kills a data node's process without warning where the target allows it (local: SIGKILL; a real cluster: SIGTERM to PID 1). */
  killDataNode(namespace: string, pod: string): Promise<void>;
  /** Kills every operator process (local: SIGKILL; a real cluster: force-deletes the operator pods). */
  killOperator(): Promise<void>;
  /** The last lines of a pod's container log (current and, where kept, previous run). */
  podLog(namespace: string, pod: string, lines: number): Promise<string>;
  /** Starts the operator again (local); a real cluster's Deployment does it by itself. */
  startOperator(): Promise<void>;
  /**
   * Kills the operator right after it writes an operation journal (status.operation) of the
   * PhantomCluster `namespace/name` for which `pick` returns a name, once per name, and starts it
   * again. Local: inside the API server's write, so the operator dies before it sees the reply
   * (exactly at that step). External: by polling the object, best effort (a fast step can be
   * missed). `stop` ends it and returns the names killed at, in order.
   */
  killOperatorAtJournal(namespace: string, name: string, pick: (operation: JournalView) => string | undefined): { stop(): Promise<string[]> };
  close(): Promise<void>;
}

/** What the kill hook sees of status.operation. */
export interface JournalView {
  readonly kind: string;
  readonly step: string;
  readonly details: Readonly<Record<string, unknown>>;
}

function journalOf(object: unknown): JournalView | undefined {
  const status = isObject(object) ? object['status'] : undefined;
  const operation = isObject(status) ? status['operation'] : undefined;
  if (!isObject(operation) || typeof operation['kind'] !== 'string' || typeof operation['step'] !== 'string') return undefined;
  return { kind: operation['kind'], step: operation['step'], details: isObject(operation['details']) ? operation['details'] : {} };
}

/** Whether the suites that need the operator can run on this target. */
export function operatorAvailable(): boolean {
  return process.env.PHANTOMDB_E2E_TARGET === 'external' || existsSync(operatorEntry);
}

function clientsOf(config: KubeConfig): Pick<E2eTarget, 'core' | 'apps' | 'custom'> {
  return { core: config.makeApiClient(CoreV1Api), apps: config.makeApiClient(AppsV1Api), custom: config.makeApiClient(CustomObjectsApi) };
}

/** Creates the CRDs of crds/ in the test server's store. */
function installCrds(server: KubeTestServer): void {
  const dir = join(repoRoot, 'crds');
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.yaml')).sort()) {
    for (const document of parseAllDocuments(readFileSync(join(dir, name), 'utf8'))) {
      const crd: unknown = document.toJS();
      if (isObject(crd)) server.store.create({ group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions' }, '', crd);
    }
  }
}

class LocalTarget implements E2eTarget {
  readonly kind = 'local';
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  private operator: ChildProcess | undefined;
  private operatorRuns = 0;

  constructor(
    readonly server: KubeTestServer,
    readonly workloads: WorkloadControllers,
    readonly stateDir: string,
    readonly kubeconfig: string,
  ) {
    const config = new KubeConfig();
    config.loadFromFile(kubeconfig);
    ({ core: this.core, apps: this.apps, custom: this.custom } = clientsOf(config));
  }

  kubectl(args: readonly string[], input?: string): Promise<CommandResult> {
    return kubectl(this.kubeconfig, ['--cache-dir', join(this.stateDir, 'kubectl-cache'), ...args], input);
  }

  killDataNode(namespace: string, pod: string): Promise<void> {
    if (!this.workloads.kubelet.signalPod(namespace, pod, 'SIGKILL')) throw new Error(`pod ${namespace}/${pod} has no running process`);
    return Promise.resolve();
  }

  podLog(namespace: string, pod: string, lines: number): Promise<string> {
    const logFile = this.workloads.kubelet.processOf(namespace, pod)?.logFile;
    if (logFile === undefined || !existsSync(logFile)) return Promise.resolve('');
    return Promise.resolve(readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'));
  }

  async startOperator(): Promise<void> {
    if (this.operator !== undefined) return;
    this.operatorRuns += 1;
    const log = createWriteStream(join(this.stateDir, `operator-${this.operatorRuns}.log`));
    // Free ports for metrics and health; a short Lease so that a restarted operator takes over
    // from a killed one within seconds.
    const child = spawn(process.execPath, ['--import', 'tsx', operatorEntry, '--metrics-port', '0', '--health-port', '0'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        KUBECONFIG: this.kubeconfig,
        POD_NAMESPACE: 'default',
        POD_NAME: `phantomdb-operator-e2e-${this.operatorRuns}`,
        PHANTOMDB_LEADER_ELECTION_LEASE_DURATION_SECONDS: '6',
        PHANTOMDB_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '4',
        PHANTOMDB_LEADER_ELECTION_RETRY_PERIOD_SECONDS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    child.once('exit', () => {
      if (this.operator === child) this.operator = undefined;
    });
    this.operator = child;
    await new Promise<void>((resolveSpawn, reject) => {
      child.once('spawn', () => resolveSpawn());
      child.once('error', reject);
    });
  }

  killOperatorAtJournal(namespace: string, name: string, pick: (operation: JournalView) => string | undefined): { stop(): Promise<string[]> } {
    const killedAt: string[] = [];
    const restarts: Promise<void>[] = [];
    const unsubscribe = this.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const meta = isObject(event.object['metadata']) ? event.object['metadata'] : {};
      if (meta['namespace'] !== namespace || meta['name'] !== name) return;
      const journal = journalOf(event.object);
      const point = journal === undefined ? undefined : pick(journal);
      const child = this.operator;
      if (point === undefined || killedAt.includes(point) || child === undefined) return;
      killedAt.push(point);
      // Synchronously, before the API server answers the write.
      const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
      child.kill('SIGKILL');
      restarts.push(exited.then(() => this.startOperator()));
    });
    return {
      stop: async () => {
        unsubscribe();
        await Promise.all(restarts);
        return killedAt;
      },
    };
  }

  async killOperator(): Promise<void> {
    const child = this.operator;
    if (child === undefined) return;
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    child.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    const child = this.operator;
    if (child !== undefined) {
      const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killTimer);
    }
    await this.server.close();
    if (process.env.PHANTOMDB_E2E_KEEP_STATE === undefined) await rm(this.stateDir, { recursive: true, force: true });
    else process.stdout.write(`e2e state kept in ${this.stateDir}\n`);
  }
}

class ExternalTarget implements E2eTarget {
  readonly kind = 'external';
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  private readonly operatorNamespace = process.env.PHANTOMDB_E2E_OPERATOR_NAMESPACE ?? 'phantomdb-system';
  private readonly operatorSelector = process.env.PHANTOMDB_E2E_OPERATOR_SELECTOR ?? 'app.kubernetes.io/name=phantomdb-operator';

  constructor() {
    const config = new KubeConfig();
    config.loadFromDefault();
    ({ core: this.core, apps: this.apps, custom: this.custom } = clientsOf(config));
  }

  kubectl(args: readonly string[], input?: string): Promise<CommandResult> {
    const kubeconfig = process.env.KUBECONFIG;
    return kubeconfig === undefined || kubeconfig === '' ? kubectlInCluster(args, input) : kubectl(kubeconfig, args, input);
  }

  async killDataNode(namespace: string, pod: string): Promise<void> {
    // PID 1 of a container ignores SIGKILL sent from inside it; the node exits on SIGTERM, and the
    // kubelet restarts the container either way.
    const result = await this.kubectl(['exec', '-n', namespace, pod, '--', 'node', '-e', "process.kill(1, 'SIGTERM')"]);
    if (result.code !== 0) throw new Error(`kubectl exec into ${pod} failed: ${result.stderr}`);
  }

  async podLog(namespace: string, pod: string, lines: number): Promise<string> {
    const previous = await this.kubectl(['logs', '-n', namespace, pod, '--previous', `--tail=${lines}`]);
    const current = await this.kubectl(['logs', '-n', namespace, pod, `--tail=${lines}`]);
    return [previous.code === 0 ? previous.stdout : '', current.stdout].join('\n').trim();
  }

  async killOperator(): Promise<void> {
    const result = await this.kubectl(['delete', 'pod', '-n', this.operatorNamespace, '-l', this.operatorSelector, '--grace-period=0', '--force', '--wait=false']);
    if (result.code !== 0) throw new Error(`cannot delete the operator pods: ${result.stderr}`);
  }

  startOperator(): Promise<void> {
    return Promise.resolve();
  }

  killOperatorAtJournal(namespace: string, name: string, pick: (operation: JournalView) => string | undefined): { stop(): Promise<string[]> } {
    const killedAt: string[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          const object: unknown = await this.custom.getNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters', namespace, name });
          const journal = journalOf(object);
          const point = journal === undefined ? undefined : pick(journal);
          if (point !== undefined && !killedAt.includes(point)) {
            killedAt.push(point);
            await this.killOperator();
          }
        } catch {
          // The API server is busy or the object is being replaced: look again.
        }
        await new Promise((resolveTick) => setTimeout(resolveTick, 100));
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return killedAt;
      },
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** kubectl with its in-cluster configuration (no --kubeconfig). */
function kubectlInCluster(args: readonly string[], input?: string): Promise<CommandResult> {
  return kubectl('', args, input);
}

/** The target named by PHANTOMDB_E2E_TARGET, started and ready for scenarios. */
export async function startTarget(): Promise<E2eTarget> {
  if (process.env.PHANTOMDB_E2E_TARGET === 'external') return new ExternalTarget();
  const stateDir = await mkdtemp(join(tmpdir(), 'phantomdb-e2e-'));
  const server = await startKubeTestServer({ bookmarkIntervalMs: 1000 });
  // Images tagged "...nonexistent..." stand for an image that cannot be pulled (as on a real cluster).
  const workloads = await installWorkloadControllers(server, { stateDir: join(stateDir, 'cluster'), restartBackoffInitialMs: 500, restartBackoffMaxMs: 5000, unpullableImages: /:[^/]*nonexistent[^/]*$/ });
  // Data nodes redirect clients to their pod DNS names: this process resolves them too.
  installHostsOverride(workloads.dns.hostsFile);
  installCrds(server);
  const kubeconfig = join(stateDir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, server.url);
  const target = new LocalTarget(server, workloads, stateDir, kubeconfig);
  if (existsSync(operatorEntry)) await target.startOperator();
  return target;
}

/** Creates the namespace a scenario runs in; one left by an earlier run (409) is fine. */
export async function ensureNamespace(target: E2eTarget, namespace: string): Promise<void> {
  try {
    await target.core.createNamespace({ body: { metadata: { name: namespace } } });
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 409)) throw error;
  }
}
