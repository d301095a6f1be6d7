/**
 * `npm start`: a local PhantomDB on this machine, the Kubernetes way. Starts the Kubernetes API
 * test server (with its StatefulSet controller, cluster DNS and a kubelet that runs every data node
 * pod as a real `phantomdb-node` process on its own loopback address), installs the CRDs from
 * crds/, starts the operator, applies examples/cluster-local.yaml, waits until the PhantomCluster
 * is Available (printing progress), and prints how to reach it. Ctrl-C stops everything.
 *
 * It never fails because a part is missing: what cannot run is reported and the rest keeps going.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { KubeApiError } from '../test/kube/errors.ts';
import { arrayAt, childObject, isObject, stringAt, type JsonObject } from '../test/kube/json.ts';
import { installWorkloadControllers, type WorkloadControllers } from '../test/kube/kubelet.ts';
import { startKubeTestServer, writeKubeconfig, type KubeTestServer } from '../test/kube/server.ts';
import { findObject, isPodReady, nameOf, namespaceOf, podsRef } from '../test/kube/statefulset-controller.ts';

const usage = `Usage: npm start [-- OPTIONS]

Runs a local PhantomDB: the Kubernetes API test server, the operator, and a 3-node cluster
(examples/cluster-local.yaml) whose data nodes are real phantomdb-node processes on loopback
addresses. Prints how to use kubectl with it and where the nodes listen. Ctrl-C stops everything.

Options:
  --port N           API server port (default 6443; another free port if it is taken)
  --state-dir DIR    kubeconfig, logs, hosts file and node data (default .phantomdb; the cluster
                     part is wiped at start, because the API server keeps its objects in memory)
  --manifest FILE    the cluster to apply (default examples/cluster-local.yaml)
  --wait-seconds N   how long to wait for the cluster to become Available (default 300)
  --help             this text
`;

const repoRoot = resolve(import.meta.dirname, '..');
const operatorEntry = join(repoRoot, 'operator', 'src', 'main.ts');
const operatorStopGraceMs = 10_000;
const pollIntervalMs = 1000;
const progressRepeatMs = 15_000;

function say(line: string): void {
  process.stdout.write(`[start] ${line}\n`);
}

function errorText(error: unknown): string {
  if (error instanceof KubeApiError) {
    const causes = error.details.causes ?? [];
    return causes.length === 0 ? error.message : `${error.message}: ${causes.map((cause) => `${cause.field} ${cause.message}`).join('; ')}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function startServer(port: number): Promise<KubeTestServer> {
  try {
    return await startKubeTestServer({ port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw error;
    say(`port ${port} is taken; using a free port instead`);
    return startKubeTestServer({ port: 0 });
  }
}

/** Creates every object of a YAML file in the store (like `kubectl create -f`); returns what was created. */
function applyManifest(server: KubeTestServer, file: string): JsonObject[] {
  const created: JsonObject[] = [];
  for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const obj: unknown = document.toJS();
    if (!isObject(obj)) continue;
    const apiVersion = stringAt(obj, 'apiVersion') ?? '';
    const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
    const type = server.store.registry.all().find((candidate) => candidate.group === group && candidate.kind === obj['kind']);
    if (type === undefined) throw new Error(`${file}: no resource type for ${apiVersion} ${String(obj['kind'])} (are the CRDs installed?)`);
    created.push(server.store.create(type, namespaceOf(obj) || 'default', obj));
  }
  return created;
}

function installCrds(server: KubeTestServer): number {
  const dir = join(repoRoot, 'crds');
  const files = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort() : [];
  for (const name of files) applyManifest(server, join(dir, name));
  return files.length;
}

interface OperatorProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  exited: boolean;
}

function startOperator(kubeconfig: string, stateDir: string): OperatorProcess | undefined {
  if (!existsSync(operatorEntry)) {
    say('the operator is not there yet (operator/src/main.ts is missing): the PhantomCluster will be created, but nothing reconciles it into a StatefulSet');
    return undefined;
  }
  const logFile = join(stateDir, 'operator.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  // Free ports for the operator's metrics and health endpoints: nothing here scrapes them.
  const child = spawn(process.execPath, ['--import', 'tsx', operatorEntry, '--metrics-port', '0', '--health-port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAMESPACE: 'default', POD_NAME: 'phantomdb-operator-local' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const operator: OperatorProcess = { child, logFile, exited: false };
  child.once('exit', (code, signal) => {
    operator.exited = true;
    if (!stopping) say(`the operator exited (${signal ?? `code ${code ?? '?'}`}); its log: ${relative(process.cwd(), logFile)}. The API server and the nodes keep running.`);
  });
  say(`operator started (pid ${child.pid ?? '?'}), log: ${relative(process.cwd(), logFile)}`);
  return operator;
}

async function stopOperator(operator: OperatorProcess | undefined): Promise<void> {
  if (operator === undefined || operator.exited) return;
  const exited = new Promise<void>((resolveExit) => operator.child.once('exit', () => resolveExit()));
  operator.child.kill('SIGTERM');
  const killTimer = setTimeout(() => operator.child.kill('SIGKILL'), operatorStopGraceMs);
  await exited;
  clearTimeout(killTimer);
}

interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
}

function conditionsOf(obj: JsonObject | undefined): Condition[] {
  const list = childObject(obj, 'status')?.['conditions'];
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).map((condition) => ({
    type: stringAt(condition, 'type') ?? '',
    status: stringAt(condition, 'status') ?? '',
    reason: stringAt(condition, 'reason') ?? '',
    message: stringAt(condition, 'message') ?? '',
  }));
}

/** One line describing the cluster and its pods. */
function progressLine(server: KubeTestServer, workloads: WorkloadControllers, cluster: JsonObject): string {
  const ref = { group: 'phantomdb.io', plural: 'phantomclusters' };
  const current = findObject(server.store, ref, namespaceOf(cluster), nameOf(cluster));
  const status = childObject(current, 'status');
  const phase = stringAt(status, 'phase') ?? '(no status yet)';
  const progressing = conditionsOf(current).find((condition) => condition.type === 'Progressing' && condition.status === 'True');
  const pods = server.store
    .list(podsRef, namespaceOf(cluster))
    .filter((pod) => nameOf(pod).startsWith(`${nameOf(cluster)}-`))
    .map((pod) => {
      const restarts = workloads.kubelet.processOf(namespaceOf(pod), nameOf(pod))?.restartCount ?? 0;
      const containerStatus = (arrayAt(childObject(pod, 'status'), 'containerStatuses') ?? []).find(isObject);
      const waiting = stringAt(childObject(childObject(containerStatus, 'state'), 'waiting'), 'reason');
      return `${nameOf(pod)} ${isPodReady(pod) ? 'ready' : (waiting ?? stringAt(childObject(pod, 'status'), 'phase') ?? 'Pending')}${restarts > 0 ? ` (${restarts} restarts)` : ''}`;
    });
  return `cluster ${nameOf(cluster)}: phase ${phase}${progressing === undefined ? '' : ` (${progressing.reason}: ${progressing.message})`}; pods: ${pods.length === 0 ? 'none yet' : pods.join(', ')}`;
}

function isAvailable(server: KubeTestServer, cluster: JsonObject): boolean {
  const current = findObject(server.store, { group: 'phantomdb.io', plural: 'phantomclusters' }, namespaceOf(cluster), nameOf(cluster));
  return conditionsOf(current).some((condition) => condition.type === 'Available' && condition.status === 'True');
}

let stopping = false;

/**
 * The kubelet's lines, without the repetition of a crash loop: each pod's first start, and each
 * distinct way it exits (with the last lines of its log, which usually say why).
 */
function kubeletLogFilter(): (line: string) => void {
  const seen = new Set<string>();
  return (line) => {
    const pod = /^pod (\S+):/.exec(line)?.[1] ?? '';
    const kind = line.includes(': started ') ? 'started' : line.includes('process exited') ? `exited ${line.slice(line.indexOf('process exited'))}` : line;
    if (seen.has(`${pod} ${kind}`)) return;
    seen.add(`${pod} ${kind}`);
    say(line);
    const logFile = /log (\S+)$/.exec(line)?.[1];
    if (logFile !== undefined) podLogs.set(pod, logFile);
    const podLog = podLogs.get(pod);
    if (kind.startsWith('exited') && podLog !== undefined && existsSync(podLog)) {
      const tail = readFileSync(podLog, 'utf8').trimEnd().split('\n').slice(-4);
      for (const tailLine of tail) say(`  ${pod} | ${tailLine}`);
      say(`  (further restarts of ${pod} for the same reason are not repeated here; full log: ${relative(process.cwd(), podLog)})`);
    }
  };
}
const podLogs = new Map<string, string>();

async function waitForAvailable(server: KubeTestServer, workloads: WorkloadControllers, cluster: JsonObject, operator: OperatorProcess | undefined, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  let lastKey = '';
  let lastPrintedAt = 0;
  while (!stopping) {
    // A line when the phase or the number of ready pods changes, else at most every 15 s (crash
    // loops flip pod states every few seconds).
    const current = findObject(server.store, { group: 'phantomdb.io', plural: 'phantomclusters' }, namespaceOf(cluster), nameOf(cluster));
    const readyPods = server.store.list(podsRef, namespaceOf(cluster)).filter((pod) => nameOf(pod).startsWith(`${nameOf(cluster)}-`) && isPodReady(pod)).length;
    const key = `${stringAt(childObject(current, 'status'), 'phase') ?? ''} ${readyPods}`;
    if (key !== lastKey || Date.now() - lastPrintedAt > progressRepeatMs) {
      say(progressLine(server, workloads, cluster));
      lastKey = key;
      lastPrintedAt = Date.now();
    }
    if (isAvailable(server, cluster)) return true;
    if (operator === undefined || operator.exited) return false;
    if (Date.now() > deadline) {
      say(`the cluster is not Available after ${Math.round(waitMs / 1000)} s; still running, see the operator's log and kubectl describe pc/${nameOf(cluster)}`);
      return false;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, pollIntervalMs));
  }
  return false;
}

function printConnectionDetails(server: KubeTestServer, workloads: WorkloadControllers, kubeconfig: string, cluster: JsonObject): void {
  const shown = relative(process.cwd(), kubeconfig) || kubeconfig;
  const lines = [
    '',
    `Kubernetes API: ${server.url}  (kubeconfig: ${shown})`,
    `  kubectl --kubeconfig ${shown} get pc`,
    `  kubectl --kubeconfig ${shown} get pods,statefulsets,pvc,svc`,
    `  kubectl --kubeconfig ${shown} scale pc/${nameOf(cluster)} --replicas=5`,
    '  (kubectl apply and create need --validate=false: the test server serves no OpenAPI document)',
    '',
    'Data nodes (pod, KV gRPC API, HTTP /status /readyz /metrics):',
  ];
  const pods = server.store.list(podsRef, namespaceOf(cluster)).filter((pod) => nameOf(pod).startsWith(`${nameOf(cluster)}-`));
  for (const pod of pods) {
    const info = workloads.kubelet.processOf(namespaceOf(pod), nameOf(pod));
    if (info === undefined) continue;
    lines.push(`  ${nameOf(pod)}  kv ${info.ip}:7010  http http://${info.ip}:8080/status  log ${relative(process.cwd(), info.logFile)}`);
  }
  if (pods.length === 0) lines.push('  (none yet)');
  const kvEndpoints = pods.map((pod) => workloads.kubelet.processOf(namespaceOf(pod), nameOf(pod))).filter((info) => info !== undefined).map((info) => `'${info.ip}:7010'`);
  if (kvEndpoints.length > 0) {
    lines.push(
      'Use it from TypeScript (npx tsx), with the typed client that finds the leader:',
      `  import { KvClient } from './datanode/src/kv/client.ts';`,
      `  const kv = new KvClient({ endpoints: [${kvEndpoints.join(', ')}], clusterId: '${nameOf(cluster)}' });`,
      `  await kv.put('greeting', 'hello'); (await kv.get('greeting'))?.toString();`,
    );
  }
  lines.push(
    `Pod DNS names (…svc.cluster.local) are in ${relative(process.cwd(), workloads.dns.hostsFile)}; a Node.js client resolves them with`,
    `  PHANTOMDB_HOSTS_FILE=${relative(process.cwd(), workloads.dns.hostsFile)} node --import tsx --import ./datanode/src/node/hosts-override.ts your-client.ts`,
    '',
    'Ctrl-C stops the operator, the data nodes and the API server.',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '6443' },
      'state-dir': { type: 'string', default: '.phantomdb' },
      manifest: { type: 'string', default: join(repoRoot, 'examples', 'cluster-local.yaml') },
      'wait-seconds': { type: 'string', default: '300' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const port = Number(values.port);
  const waitSeconds = Number(values['wait-seconds']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${values.port}`);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new Error(`invalid --wait-seconds ${values['wait-seconds']}`);
  const stateDir = resolve(values['state-dir']);
  const clusterDir = join(stateDir, 'cluster');
  rmSync(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true });

  const server = await startServer(port);
  const kubeconfig = join(stateDir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, server.url);
  say(`Kubernetes API test server on ${server.url}; kubeconfig ${relative(process.cwd(), kubeconfig)}`);
  const workloads = await installWorkloadControllers(server, { stateDir: clusterDir, log: kubeletLogFilter() });
  say(`StatefulSet controller, cluster DNS and kubelet running (pod network ${workloads.kubelet.podNetwork}.0/24, node data under ${relative(process.cwd(), clusterDir)})`);

  const running: { operator?: OperatorProcess | undefined } = {};
  let firstSignalAt = 0;
  // Last resort on any exit: no operator left behind (the kubelet does the same for data nodes).
  process.on('exit', () => {
    if (running.operator !== undefined && !running.operator.exited) running.operator.child.kill('SIGKILL');
  });
  const shutdown = (signal: string): void => {
    // Ctrl-C reaches npm, tsx and this process; a relayed copy arrives right after the first.
    if (stopping && Date.now() - firstSignalAt < 2000) return;
    if (stopping) {
      say(`${signal} again: exiting now (the kubelet kills the data nodes)`);
      process.exit(130);
    }
    stopping = true;
    firstSignalAt = Date.now();
    say(`${signal}: stopping the operator, the data nodes and the API server…`);
    void (async () => {
      await stopOperator(running.operator);
      await server.close();
      say('stopped');
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  say(`installed ${installCrds(server)} CRDs from crds/`);
  const operator = startOperator(kubeconfig, stateDir);
  running.operator = operator;
  let cluster: JsonObject | undefined;
  try {
    cluster = applyManifest(server, values.manifest).find((obj) => obj['kind'] === 'PhantomCluster');
    say(`applied ${relative(process.cwd(), values.manifest)}`);
  } catch (error) {
    say(`could not apply ${values.manifest}: ${errorText(error)}`);
  }
  if (cluster === undefined) {
    say('no PhantomCluster to wait for; the API server keeps running');
    printConnectionDetails(server, workloads, kubeconfig, { metadata: { name: 'local', namespace: 'default' } });
    return;
  }
  const available = await waitForAvailable(server, workloads, cluster, operator, waitSeconds * 1000);
  if (stopping) return;
  if (available) say(`cluster ${nameOf(cluster)} is Available`);
  printConnectionDetails(server, workloads, kubeconfig, cluster);
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start: ${errorText(error)}\n\n${usage}`);
  process.exit(1);
});
