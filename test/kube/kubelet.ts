/**
 * The "kubelet" of the Kubernetes API test server: it runs every pod as a real `phantomdb-node`
 * process on this machine.
 *
 * - Each pod gets its own loopback address (its pod IP) from a /24 under 127/8 chosen per kubelet,
 *   so nodes keep their default ports without colliding, and two test servers on one machine do
 *   not meet. What `0.0.0.0` means inside a pod's network namespace is emulated: listen addresses
 *   become the pod IP (PHANTOMDB_GRPC_LISTEN / _KV_LISTEN / _HTTP_LISTEN are set from the
 *   container's `peer`, `kv` and `http` ports unless the pod sets them, and `0.0.0.0` in args and
 *   env values becomes the pod IP).
 * - Volumes are directories: a PersistentVolumeClaim is `<stateDir>/volumes/<ns>/<claim>-<uid>`
 *   (kept across pod restarts and recreations, removed when the claim is deleted); ConfigMap,
 *   Secret and downward API volumes are written as files before every container start; emptyDir is
 *   per pod. A mount path in the container's args or env values is replaced by its directory;
 *   PHANTOMDB_TEST_MOUNTS gives the node the mount table for paths it gets at run time
 *   (datanode/src/backup/test-mounts.ts).
 * - Env: plain values, `$(VAR)` references, fieldRef (metadata.name/namespace/uid/labels/
 *   annotations, spec.nodeName, spec.serviceAccountName, status.podIP, status.hostIP),
 *   configMapKeyRef, secretKeyRef, envFrom. The pod's DNS names resolve through the hosts file of
 *   `ClusterDnsController` (PHANTOMDB_HOSTS_FILE plus `datanode/src/node/hosts-override.ts`).
 * - Status: phase, podIP, conditions (Ready follows the container's readinessProbe, polled over
 *   HTTP at up to `probeIntervalMaxMs`), containerStatuses with restartCount, state and lastState.
 * - A process that exits is restarted per `restartPolicy` with capped exponential backoff
 *   (CrashLoopBackOff). Deleting a pod sends SIGTERM, then SIGKILL after the grace period; the
 *   kubelet holds the pod with a finalizer until the process is gone, so a StatefulSet never runs
 *   two incarnations of one pod (or two processes on one volume) at once, as on a real node.
 * - Liveness and startup probes and resource limits are not enforced. Images are not pulled: every
 *   container runs this checkout's node, whatever its image says, except that images matching
 *   `unpullableImages` stay in ImagePullBackOff (never started, never Ready), as an image that
 *   does not exist would on a real node. The image's tag stands for the binary the image would
 *   hold: a tag that is a version (`...:0.2.0`) sets PHANTOMDB_TEST_BINARY_VERSION (test-only,
 *   see datanode/src/version/binary.ts) unless the pod sets it, so that an upgrade to another tag
 *   runs "another binary" as on a real node and the data nodes' cluster versions are exercised.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isVersion } from '../../datanode/src/version/version.ts';
import { ClusterDnsController } from './dns.ts';
import { arrayAt, childObject, isObject, jsonEqual, stringAt, type JsonObject, type JsonValue } from './json.ts';
import type { ControllerContext, KubeTestController, KubeTestServer } from './server.ts';
import { claimsRef, findObject, isDeleting, nameOf, namespaceOf, podsRef, ReconcileQueue, StatefulSetController, uidOf } from './statefulset-controller.ts';
import type { KubeStore, StoreEvent } from './store.ts';

export const kubeletFinalizer = 'kubelet.phantomdb.io/process';

/** The version an image's tag names (`registry:5000/phantomdb-node:v0.2.0` → `0.2.0`), or undefined. */
export function versionTagOf(image: string): string | undefined {
  const name = image.slice(image.lastIndexOf('/') + 1);
  const at = name.lastIndexOf(':');
  if (at < 0) return undefined;
  const tag = name.slice(at + 1).replace(/^v/, '');
  return isVersion(tag) ? tag : undefined;
}
const configMapsRef = { group: '', plural: 'configmaps' };
const secretsRef = { group: '', plural: 'secrets' };
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface KubeletOptions {
  /** Root of pod volumes and logs. */
  readonly stateDir: string;
  /** The hosts file the cluster DNS controller keeps (passed to processes as PHANTOMDB_HOSTS_FILE). */
  readonly hostsFile: string;
  /** First three octets of the pod network, e.g. `127.31.4` (default: random under 127/8). */
  readonly podNetwork?: string;
  readonly nodeName?: string;
  /** The `phantomdb-node` entry point (default: datanode/src/main.ts of this checkout, or PHANTOMDB_NODE_ENTRY). */
  readonly nodeEntry?: string;
  /** Upper bound of the readiness probe period, whatever the pod asks (default 500 ms). */
  readonly probeIntervalMaxMs?: number;
  readonly restartBackoffInitialMs?: number;
  readonly restartBackoffMaxMs?: number;
  /** Upper bound of the termination grace period (default 15,000 ms). */
  readonly terminationGraceMaxMs?: number;
  /** Images the "registry" does not have: their pods wait in ImagePullBackOff (default: none). */
  readonly unpullableImages?: RegExp;
  /** Progress lines (container started, exited, restarted). */
  readonly log?: (line: string) => void;
}

/** What a test can see of a pod's process. */
export interface PodProcessInfo {
  readonly pid: number | undefined;
  readonly ip: string;
  readonly restartCount: number;
  readonly logFile: string;
}

interface Termination {
  readonly exitCode: number;
  readonly signal: string | undefined;
  readonly startedAt: string;
  readonly finishedAt: string;
}

type ContainerState =
  | { readonly kind: 'waiting'; readonly reason: string; readonly message: string }
  | { readonly kind: 'running'; readonly startedAt: string }
  | { readonly kind: 'terminated'; readonly termination: Termination };

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function containersOf(pod: JsonObject): JsonObject[] {
  return (arrayAt(childObject(pod, 'spec'), 'containers') ?? []).filter(isObject);
}

function portOf(container: JsonObject, port: JsonValue | undefined, fallback: number): number {
  if (typeof port === 'number') return port;
  for (const entry of (arrayAt(container, 'ports') ?? []).filter(isObject)) {
    if (entry['name'] === port && typeof entry['containerPort'] === 'number') return entry['containerPort'];
  }
  return fallback;
}

/** Expands `$(NAME)` from `variables` (unknown references stay as they are; `$$` is a literal `$`). */
export function expandReferences(text: string, variables: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name === undefined ? match : (variables.get(name) ?? match);
  });
}

/** Replaces a leading mount path (or one after `=`) by its host directory; the longest mount wins. */
export function translateMountPaths(text: string, mounts: ReadonlyMap<string, string>): string {
  const byLength = [...mounts.entries()].sort(([a], [b]) => b.length - a.length);
  const translate = (value: string): string => {
    for (const [mountPath, hostPath] of byLength) {
      if (value === mountPath) return hostPath;
      if (value.startsWith(`${mountPath}/`)) return hostPath + value.slice(mountPath.length);
    }
    return value;
  };
  const equals = text.indexOf('=');
  if (text.startsWith('-') && equals > 0) return `${text.slice(0, equals + 1)}${translate(text.slice(equals + 1))}`;
  return translate(text);
}

/** Labels or annotations in the downward API file format: `key="value"` lines, sorted. */
function downwardMap(map: JsonObject | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(String(map?.[key] ?? ''))}`)
    .join('\n');
}

class WaitingForVolume extends Error {}

/** One pod's process and what the kubelet knows about it. */
class PodRuntime {
  state: ContainerState = { kind: 'waiting', reason: 'ContainerCreating', message: '' };
  lastTermination: Termination | undefined;
  restartCount = 0;
  ready = false;
  readyChangedAt: string;
  startTime: string;
  child: ChildProcess | undefined;
  failedReason: string | undefined;
  private probeFailures = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private consecutiveCrashes = 0;
  private terminating: Promise<void> | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly usedClaimDirs = new Set<string>();

  constructor(
    readonly kubelet: Kubelet,
    readonly namespace: string,
    readonly name: string,
    readonly uid: string,
    readonly ip: string,
    readonly podDir: string,
  ) {
    this.startTime = kubelet.now();
    this.readyChangedAt = this.startTime;
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  get logFile(): string {
    return join(this.podDir, 'container.log');
  }

  get isTerminating(): boolean {
    return this.terminating !== undefined;
  }

  /** Starts (or restarts) the container; failures to prepare leave it waiting and retry. */
  start(): void {
    if (this.terminating !== undefined) return;
    const pod = this.kubelet.readPod(this.namespace, this.name);
    if (pod === undefined || uidOf(pod) !== this.uid) return;
    const container = containersOf(pod)[0];
    if (container === undefined) {
      this.fail('NoContainer', 'the pod has no containers');
      return;
    }
    const image = stringAt(container, 'image') ?? '';
    if (this.kubelet.unpullableImages?.test(image) === true) {
      // Stays Pending and retries the pull, as a real kubelet does.
      this.setState({ kind: 'waiting', reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}": not found in the registry` });
      this.restartTimer = setTimeout(() => this.start(), 2000);
      return;
    }
    const command = (arrayAt(container, 'command') ?? []).filter((part): part is string => typeof part === 'string');
    if (command.length > 0 && basename(command[0] ?? '') !== 'phantomdb-node') {
      this.fail('UnsupportedCommand', `the test kubelet runs only phantomdb-node containers, not ${JSON.stringify(command[0])}`);
      return;
    }
    let launch: { args: string[]; env: Record<string, string> };
    try {
      launch = this.kubelet.prepareLaunch(this, pod, container, command.slice(1));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.setState({ kind: 'waiting', reason: error instanceof WaitingForVolume ? 'ContainerCreating' : 'CreateContainerConfigError', message });
      this.restartTimer = setTimeout(() => this.start(), 500);
      return;
    }
    this.spawnProcess(pod, container, launch);
  }

  private spawnProcess(pod: JsonObject, container: JsonObject, launch: { args: string[]; env: Record<string, string> }): void {
    mkdirSync(this.podDir, { recursive: true });
    const logFd = openSync(this.logFile, 'a');
    const startedAt = this.kubelet.now();
    const hostsOverride = join(repoRoot, 'datanode', 'src', 'node', 'hosts-override.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', hostsOverride, this.kubelet.nodeEntry, ...launch.args], {
      cwd: repoRoot,
      env: launch.env,
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
    closeSync(logFd);
    this.child = child;
    let settle = (): void => undefined;
    this.exited = new Promise((resolveExit) => (settle = resolveExit));
    child.once('error', (error) => this.kubelet.log(`pod ${this.key}: cannot start the process: ${error.message}`));
    child.once('exit', (code, signal) => {
      this.onExit(pod, { exitCode: code ?? 128 + signalNumber(signal), signal: signal ?? undefined, startedAt, finishedAt: this.kubelet.now() });
      settle();
    });
    this.setState({ kind: 'running', startedAt });
    this.kubelet.log(`pod ${this.key}: started phantomdb-node (pid ${child.pid ?? '?'}) on ${this.ip}; log ${this.logFile}`);
    this.startProbing(container, startedAt);
  }

  private onExit(pod: JsonObject, termination: Termination): void {
    this.child = undefined;
    this.stopProbing();
    this.setReady(false);
    this.lastTermination = termination;
    if (this.terminating !== undefined) {
      this.setState({ kind: 'terminated', termination });
      return;
    }
    const policy = stringAt(childObject(pod, 'spec'), 'restartPolicy') ?? 'Always';
    const restart = policy === 'Always' || (policy === 'OnFailure' && termination.exitCode !== 0);
    this.kubelet.log(`pod ${this.key}: process exited (${termination.signal ?? `code ${termination.exitCode}`})${restart ? '; restarting' : ''}`);
    if (!restart) {
      this.setState({ kind: 'terminated', termination });
      return;
    }
    const ranMs = Date.parse(termination.finishedAt) - Date.parse(termination.startedAt);
    this.consecutiveCrashes = ranMs > this.kubelet.backoffMaxMs * 2 ? 1 : this.consecutiveCrashes + 1;
    const delayMs = Math.min(this.kubelet.backoffInitialMs * 2 ** (this.consecutiveCrashes - 1), this.kubelet.backoffMaxMs);
    this.setState({ kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${delayMs}ms restarting failed container` });
    this.restartTimer = setTimeout(() => {
      this.restartCount += 1;
      this.start();
    }, delayMs);
  }

  private fail(reason: string, message: string): void {
    this.failedReason = `${reason}: ${message}`;
    this.setState({ kind: 'waiting', reason, message });
    this.kubelet.log(`pod ${this.key}: ${reason}: ${message}`);
  }

  private startProbing(container: JsonObject, startedAt: string): void {
    const probe = childObject(container, 'readinessProbe');
    const httpGet = childObject(probe, 'httpGet');
    if (httpGet === undefined) {
      this.setReady(true);
      return;
    }
    const port = portOf(container, httpGet['port'], 8080);
    const url = `http://${this.ip}:${port}${stringAt(httpGet, 'path') ?? '/'}`;
    const periodMs = Math.min(Number(probe?.['periodSeconds'] ?? 10) * 1000, this.kubelet.probeIntervalMaxMs);
    const timeoutMs = Math.min(Number(probe?.['timeoutSeconds'] ?? 1) * 1000, 2000);
    const failureThreshold = Number(probe?.['failureThreshold'] ?? 3);
    const tick = async (): Promise<void> => {
      let ok: boolean;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        await response.arrayBuffer();
        ok = response.status >= 200 && response.status < 400;
      } catch {
        ok = false;
      }
      if (this.state.kind !== 'running' || this.state.startedAt !== startedAt) return;
      this.probeFailures = ok ? 0 : this.probeFailures + 1;
      if (ok) this.setReady(true);
      else if (this.probeFailures >= failureThreshold) this.setReady(false);
      this.probeTimer = setTimeout(() => void tick(), periodMs);
    };
    this.probeTimer = setTimeout(() => void tick(), Math.min(100, periodMs));
  }

  private stopProbing(): void {
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.probeFailures = 0;
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.readyChangedAt = this.kubelet.now();
    this.kubelet.enqueue(this.key);
  }

  private setState(state: ContainerState): void {
    this.state = state;
    this.kubelet.enqueue(this.key);
  }

  /** Sends a signal to the process (tests kill data nodes with it); returns whether one was running. */
  signal(signal: NodeJS.Signals): boolean {
    const pid = this.child?.pid;
    if (pid === undefined) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Idempotent. */
  terminate(graceMs: number): Promise<void> {
    if (this.terminating !== undefined) return this.terminating;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.stopProbing();
    this.terminating = (async () => {
      if (this.child === undefined) return;
      this.signal('SIGTERM');
      const killTimer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(killTimer);
    })();
    return this.terminating;
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 };
  return signal === null ? 0 : (numbers[signal] ?? 1);
}

/**
 * Where a data node listens, by environment variable: the pod IP and the container port of that
 * name (or the node's default). Variables the pod sets itself win (with 0.0.0.0 made the pod IP).
 */
const listenVariables: Readonly<Record<string, { readonly name: string; readonly fallback: number }>> = {
  PHANTOMDB_GRPC_LISTEN: { name: 'peer', fallback: 7000 },
  PHANTOMDB_KV_LISTEN: { name: 'kv', fallback: 7010 },
  PHANTOMDB_HTTP_LISTEN: { name: 'http', fallback: 8080 },
};

function randomPodNetwork(): string {
  return `127.${16 + Math.floor(Math.random() * 230)}.${Math.floor(Math.random() * 256)}`;
}

/**
 * The kubelet controller. Register it (with a StatefulSetController and a ClusterDnsController
 * sharing its hosts file) through `installWorkloadControllers`.
 */
export class Kubelet implements KubeTestController {
  readonly name = 'kubelet';
  readonly podNetwork: string;
  readonly nodeName: string;
  readonly nodeEntry: string;
  readonly probeIntervalMaxMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly unpullableImages: RegExp | undefined;
  private readonly graceMaxMs: number;
  private context: ControllerContext | undefined;
  private queue: ReconcileQueue | undefined;
  private readonly runtimes = new Map<string, PodRuntime>();
  private readonly unsubscribes: (() => void)[] = [];
  private readonly claimDirsToRemove = new Set<string>();
  private readonly killAllOnExit = (): void => {
    for (const runtime of this.runtimes.values()) runtime.signal('SIGKILL');
  };

  constructor(private readonly options: KubeletOptions) {
    this.podNetwork = options.podNetwork ?? randomPodNetwork();
    if (!/^127\.\d{1,3}\.\d{1,3}$/.test(this.podNetwork)) throw new RangeError(`podNetwork must be three octets under 127/8, not ${this.podNetwork}`);
    this.nodeName = options.nodeName ?? 'phantomdb-test-node';
    this.nodeEntry = options.nodeEntry ?? process.env.PHANTOMDB_NODE_ENTRY ?? join(repoRoot, 'datanode', 'src', 'main.ts');
    this.probeIntervalMaxMs = options.probeIntervalMaxMs ?? 500;
    this.backoffInitialMs = options.restartBackoffInitialMs ?? 1000;
    this.backoffMaxMs = options.restartBackoffMaxMs ?? 10_000;
    this.graceMaxMs = options.terminationGraceMaxMs ?? 15_000;
    this.unpullableImages = options.unpullableImages;
  }

  /** The address of the machine ("host IP" of every pod). */
  get hostIp(): string {
    return `${this.podNetwork}.1`;
  }

  start(context: ControllerContext): void {
    this.context = context;
    mkdirSync(this.options.stateDir, { recursive: true });
    const queue = new ReconcileQueue((key) => this.reconcile(key), this.name, {
      intervalMs: 2000,
      keys: () => [...new Set([...context.store.list(podsRef).map((pod) => `${namespaceOf(pod)}/${nameOf(pod)}`), ...this.runtimes.keys()])],
    });
    this.queue = queue;
    this.unsubscribes.push(context.store.subscribe(podsRef, (event) => queue.add(`${namespaceOf(event.object)}/${nameOf(event.object)}`)));
    this.unsubscribes.push(context.store.subscribe(claimsRef, (event) => this.onClaimEvent(event)));
    for (const pod of context.store.list(podsRef)) queue.add(`${namespaceOf(pod)}/${nameOf(pod)}`);
    process.on('exit', this.killAllOnExit);
  }

  /** Stops every process (SIGTERM, SIGKILL after at most 5 s) and all work. */
  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.queue?.stop();
    await Promise.all([...this.runtimes.values()].map((runtime) => runtime.terminate(Math.min(this.graceMaxMs, 5000))));
    this.runtimes.clear();
    process.off('exit', this.killAllOnExit);
  }

  now(): string {
    return timestamp(this.context?.clock.now() ?? new Date());
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  enqueue(key: string): void {
    this.queue?.add(key);
  }

  readPod(namespace: string, name: string): JsonObject | undefined {
    const store = this.context?.store;
    return store === undefined ? undefined : findObject(store, podsRef, namespace, name);
  }

  /** The process of a pod, for tests and `npm start`'s output. */
  processOf(namespace: string, name: string): PodProcessInfo | undefined {
    const runtime = this.runtimes.get(`${namespace}/${name}`);
    if (runtime === undefined) return undefined;
    return { pid: runtime.child?.pid, ip: runtime.ip, restartCount: runtime.restartCount, logFile: runtime.logFile };
  }

  /** Signals a pod's process as if it crashed (SIGKILL) or was stopped; returns whether one was running. */
  signalPod(namespace: string, name: string, signal: NodeJS.Signals): boolean {
    return this.runtimes.get(`${namespace}/${name}`)?.signal(signal) ?? false;
  }

  private allocateIp(): string {
    const used = new Set([...this.runtimes.values()].map((runtime) => runtime.ip));
    for (let host = 2; host < 255; host++) {
      const ip = `${this.podNetwork}.${host}`;
      if (!used.has(ip)) return ip;
    }
    throw new Error(`pod network ${this.podNetwork}.0/24 is full`);
  }

  private reconcile(key: string): void {
    const store = this.context?.store;
    if (store === undefined) return;
    const [namespace = '', name = ''] = key.split('/');
    const pod = findObject(store, podsRef, namespace, name);
    const runtime = this.runtimes.get(key);
    if (runtime !== undefined && (pod === undefined || uidOf(pod) !== runtime.uid || isDeleting(pod))) {
      if (!runtime.isTerminating) void this.terminateRuntime(runtime, pod);
      return;
    }
    if (pod === undefined) return;
    const finalizers = (arrayAt(childObject(pod, 'metadata'), 'finalizers') ?? []).filter((item): item is string => typeof item === 'string');
    if (isDeleting(pod)) {
      if (finalizers.includes(kubeletFinalizer)) this.removeFinalizer(store, pod);
      return;
    }
    if (!finalizers.includes(kubeletFinalizer) || stringAt(childObject(pod, 'spec'), 'nodeName') === undefined) {
      const metadata = { ...(childObject(pod, 'metadata') ?? {}), finalizers: [...finalizers.filter((item) => item !== kubeletFinalizer), kubeletFinalizer] };
      store.update(podsRef, namespace, name, { ...pod, metadata, spec: { ...(childObject(pod, 'spec') ?? {}), nodeName: this.nodeName } });
      return;
    }
    if (runtime === undefined) {
      const created = new PodRuntime(this, namespace, name, uidOf(pod), this.allocateIp(), join(this.options.stateDir, 'pods', namespace, `${name}-${uidOf(pod)}`));
      this.runtimes.set(key, created);
      created.start();
      return;
    }
    this.writeStatus(store, pod, runtime);
  }

  private async terminateRuntime(runtime: PodRuntime, pod: JsonObject | undefined): Promise<void> {
    const graceSeconds = childObject(pod, 'spec')?.['terminationGracePeriodSeconds'];
    const graceMs = Math.min(typeof graceSeconds === 'number' ? graceSeconds * 1000 : 30_000, this.graceMaxMs);
    this.log(`pod ${runtime.key}: stopping (SIGTERM, SIGKILL after ${graceMs} ms)`);
    await runtime.terminate(graceMs);
    this.runtimes.delete(runtime.key);
    rmSync(join(runtime.podDir, 'volumes'), { recursive: true, force: true });
    for (const dir of runtime.usedClaimDirs) this.removeClaimDirIfUnused(dir);
    const store = this.context?.store;
    const current = store === undefined ? undefined : findObject(store, podsRef, runtime.namespace, runtime.name);
    if (store !== undefined && current !== undefined && uidOf(current) === runtime.uid) this.removeFinalizer(store, current);
    this.enqueue(runtime.key);
  }

  private removeFinalizer(store: KubeStore, pod: JsonObject): void {
    const metadata = childObject(pod, 'metadata') ?? {};
    const finalizers = (arrayAt(metadata, 'finalizers') ?? []).filter((item) => item !== kubeletFinalizer);
    store.update(podsRef, namespaceOf(pod), nameOf(pod), { ...pod, metadata: { ...metadata, finalizers } });
  }

  private claimDir(namespace: string, claim: JsonObject): string {
    return join(this.options.stateDir, 'volumes', namespace, `${nameOf(claim)}-${uidOf(claim)}`);
  }

  /** A deleted claim's directory is deleted too (dynamic provisioning, reclaim policy Delete) once no process uses it. */
  private onClaimEvent(event: StoreEvent): void {
    if (event.type !== 'DELETED') return;
    const dir = this.claimDir(namespaceOf(event.object), event.object);
    this.claimDirsToRemove.add(dir);
    this.removeClaimDirIfUnused(dir);
  }

  private removeClaimDirIfUnused(dir: string): void {
    if (!this.claimDirsToRemove.has(dir)) return;
    if ([...this.runtimes.values()].some((runtime) => runtime.usedClaimDirs.has(dir))) return;
    this.claimDirsToRemove.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  }

  /** Materializes the pod's volumes; returns mount path → host directory for the container. */
  private prepareVolumes(runtime: PodRuntime, pod: JsonObject, container: JsonObject): Map<string, string> {
    const store = this.context?.store;
    if (store === undefined) throw new WaitingForVolume('kubelet stopped');
    const volumeDirs = new Map<string, string>();
    for (const volume of (arrayAt(childObject(pod, 'spec'), 'volumes') ?? []).filter(isObject)) {
      const volumeName = stringAt(volume, 'name') ?? '';
      volumeDirs.set(volumeName, this.prepareVolume(store, runtime, pod, volume));
    }
    const mounts = new Map<string, string>();
    for (const mount of (arrayAt(container, 'volumeMounts') ?? []).filter(isObject)) {
      const dir = volumeDirs.get(stringAt(mount, 'name') ?? '');
      const mountPath = stringAt(mount, 'mountPath');
      if (dir === undefined || mountPath === undefined) throw new Error(`volume mount ${JSON.stringify(mount['name'])} names no volume of the pod`);
      const subPath = stringAt(mount, 'subPath');
      mounts.set(mountPath.replace(/\/$/, ''), subPath === undefined || subPath === '' ? dir : join(dir, subPath));
    }
    return mounts;
  }

  private prepareVolume(store: KubeStore, runtime: PodRuntime, pod: JsonObject, volume: JsonObject): string {
    const namespace = runtime.namespace;
    const volumeName = stringAt(volume, 'name') ?? '';
    const dir = join(runtime.podDir, 'volumes', volumeName);
    const claimSource = childObject(volume, 'persistentVolumeClaim');
    if (claimSource !== undefined) {
      const claimName = stringAt(claimSource, 'claimName') ?? '';
      const claim = findObject(store, claimsRef, namespace, claimName);
      if (claim === undefined || isDeleting(claim)) throw new WaitingForVolume(`persistentvolumeclaim "${claimName}" not found`);
      if (stringAt(childObject(claim, 'status'), 'phase') !== 'Bound') throw new WaitingForVolume(`persistentvolumeclaim "${claimName}" is not bound`);
      const claimDir = this.claimDir(namespace, claim);
      mkdirSync(claimDir, { recursive: true });
      runtime.usedClaimDirs.add(claimDir);
      return claimDir;
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const configMap = childObject(volume, 'configMap');
    const secret = childObject(volume, 'secret');
    if (configMap !== undefined || secret !== undefined) {
      const source = configMap ?? secret ?? {};
      const objectName = stringAt(source, configMap !== undefined ? 'name' : 'secretName') ?? '';
      const object = findObject(store, configMap !== undefined ? configMapsRef : secretsRef, namespace, objectName);
      if (object === undefined) {
        if (source['optional'] === true) return dir;
        throw new WaitingForVolume(`${configMap !== undefined ? 'configmap' : 'secret'} "${objectName}" not found`);
      }
      const data = childObject(object, 'data') ?? {};
      const decode = (value: JsonValue | undefined): string => (secret !== undefined ? Buffer.from(String(value ?? ''), 'base64').toString('utf8') : String(value ?? ''));
      const items = (arrayAt(source, 'items') ?? []).filter(isObject);
      const files = items.length > 0 ? items.map((item) => [stringAt(item, 'key') ?? '', stringAt(item, 'path') ?? ''] as const) : Object.keys(data).map((key) => [key, key] as const);
      for (const [key, path] of files) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), decode(data[key]));
      }
      return dir;
    }
    const downward = childObject(volume, 'downwardAPI');
    for (const item of (arrayAt(downward, 'items') ?? []).filter(isObject)) {
      const fieldPath = stringAt(childObject(item, 'fieldRef'), 'fieldPath') ?? '';
      const value = this.fieldValue(pod, runtime, fieldPath);
      writeFileSync(join(dir, stringAt(item, 'path') ?? 'value'), value);
    }
    return dir;
  }

  /** The value of a downward API `fieldPath` for this pod. */
  private fieldValue(pod: JsonObject, runtime: PodRuntime, fieldPath: string): string {
    const metadata = childObject(pod, 'metadata') ?? {};
    const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
    if (keyed !== null) return String(childObject(metadata, keyed[1] ?? '')?.[keyed[2] ?? ''] ?? '');
    switch (fieldPath) {
      case 'metadata.name':
        return runtime.name;
      case 'metadata.namespace':
        return runtime.namespace;
      case 'metadata.uid':
        return runtime.uid;
      case 'metadata.labels':
        return downwardMap(childObject(metadata, 'labels'));
      case 'metadata.annotations':
        return downwardMap(childObject(metadata, 'annotations'));
      case 'spec.nodeName':
        return this.nodeName;
      case 'spec.serviceAccountName':
        return stringAt(childObject(pod, 'spec'), 'serviceAccountName') ?? 'default';
      case 'status.podIP':
        return runtime.ip;
      case 'status.hostIP':
        return this.hostIp;
      default:
        throw new Error(`unsupported fieldRef ${fieldPath}`);
    }
  }

  private keyRefValue(namespace: string, source: JsonObject, secret: boolean): string | undefined {
    const store = this.context?.store;
    const objectName = stringAt(source, 'name') ?? '';
    const object = store === undefined ? undefined : findObject(store, secret ? secretsRef : configMapsRef, namespace, objectName);
    const raw = childObject(object, 'data')?.[stringAt(source, 'key') ?? ''];
    if (raw === undefined) {
      if (source['optional'] === true) return undefined;
      throw new Error(`${secret ? 'secret' : 'configmap'} "${objectName}" has no key ${JSON.stringify(source['key'])}`);
    }
    return secret ? Buffer.from(String(raw), 'base64').toString('utf8') : String(raw);
  }

  /** The container's environment, as Kubernetes computes it (envFrom, then env in order with `$(VAR)`). */
  private containerEnvironment(runtime: PodRuntime, pod: JsonObject, container: JsonObject): Map<string, string> {
    const variables = new Map<string, string>();
    for (const source of (arrayAt(container, 'envFrom') ?? []).filter(isObject)) {
      const prefix = stringAt(source, 'prefix') ?? '';
      const ref = childObject(source, 'configMapRef') ?? childObject(source, 'secretRef');
      const secret = childObject(source, 'secretRef') !== undefined;
      const store = this.context?.store;
      const object = store === undefined || ref === undefined ? undefined : findObject(store, secret ? secretsRef : configMapsRef, runtime.namespace, stringAt(ref, 'name') ?? '');
      for (const [key, value] of Object.entries(childObject(object, 'data') ?? {})) {
        variables.set(`${prefix}${key}`, secret ? Buffer.from(String(value), 'base64').toString('utf8') : String(value));
      }
    }
    for (const entry of (arrayAt(container, 'env') ?? []).filter(isObject)) {
      const name = stringAt(entry, 'name') ?? '';
      const valueFrom = childObject(entry, 'valueFrom');
      let value: string | undefined;
      if (valueFrom === undefined) value = expandReferences(stringAt(entry, 'value') ?? '', variables);
      else if (childObject(valueFrom, 'fieldRef') !== undefined) value = this.fieldValue(pod, runtime, stringAt(childObject(valueFrom, 'fieldRef'), 'fieldPath') ?? '');
      else if (childObject(valueFrom, 'configMapKeyRef') !== undefined) value = this.keyRefValue(runtime.namespace, childObject(valueFrom, 'configMapKeyRef') ?? {}, false);
      else if (childObject(valueFrom, 'secretKeyRef') !== undefined) value = this.keyRefValue(runtime.namespace, childObject(valueFrom, 'secretKeyRef') ?? {}, true);
      if (value !== undefined) variables.set(name, value);
    }
    return variables;
  }

  /** Translates the pod's container into the process's arguments and environment. */
  prepareLaunch(runtime: PodRuntime, pod: JsonObject, container: JsonObject, commandArgs: readonly string[]): { args: string[]; env: Record<string, string> } {
    const mounts = this.prepareVolumes(runtime, pod, container);
    const variables = this.containerEnvironment(runtime, pod, container);
    const localize = (value: string): string => translateMountPaths(value, mounts).replaceAll('0.0.0.0', runtime.ip);
    const args = [...commandArgs, ...(arrayAt(container, 'args') ?? []).map(String)].map((arg) => localize(expandReferences(arg, variables)));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOSTNAME: stringAt(childObject(pod, 'spec'), 'hostname') ?? runtime.name,
      HOME: join(runtime.podDir, 'home'),
      TMPDIR: mounts.get('/tmp') ?? join(runtime.podDir, 'tmp'),
    };
    for (const [variable, port] of Object.entries(listenVariables)) env[variable] = `${runtime.ip}:${portOf(container, port.name, port.fallback)}`;
    for (const [name, value] of variables) env[name] = localize(value);
    env['PHANTOMDB_HOSTS_FILE'] = this.options.hostsFile;
    // Paths that reach the node at run time (a volume backup destination) map through these too.
    env['PHANTOMDB_TEST_MOUNTS'] = JSON.stringify(Object.fromEntries(mounts));
    const binaryVersion = versionTagOf(stringAt(container, 'image') ?? '');
    if (binaryVersion !== undefined && env['PHANTOMDB_TEST_BINARY_VERSION'] === undefined) env['PHANTOMDB_TEST_BINARY_VERSION'] = binaryVersion;
    mkdirSync(env['HOME'] ?? runtime.podDir, { recursive: true });
    mkdirSync(env['TMPDIR'] ?? runtime.podDir, { recursive: true });
    return { args, env };
  }

  private containerStatus(runtime: PodRuntime, container: JsonObject | undefined): JsonObject {
    const state = runtime.state;
    const terminated = (termination: Termination): JsonObject => ({
      exitCode: termination.exitCode,
      reason: termination.exitCode === 0 ? 'Completed' : 'Error',
      startedAt: termination.startedAt,
      finishedAt: termination.finishedAt,
      ...(termination.signal === undefined ? {} : { signal: signalNumber(termination.signal as NodeJS.Signals) }),
    });
    const stateObject: JsonObject =
      state.kind === 'running'
        ? { running: { startedAt: state.startedAt } }
        : state.kind === 'waiting'
          ? { waiting: { reason: state.reason, ...(state.message === '' ? {} : { message: state.message }) } }
          : { terminated: terminated(state.termination) };
    const last = runtime.lastTermination;
    return {
      name: stringAt(container, 'name') ?? 'container',
      image: stringAt(container, 'image') ?? '',
      imageID: '',
      containerID: state.kind === 'running' ? `phantomdb-test://${runtime.uid}/${runtime.restartCount}` : '',
      ready: runtime.ready,
      started: state.kind === 'running',
      restartCount: runtime.restartCount,
      state: stateObject,
      lastState: last === undefined || state.kind === 'terminated' ? {} : { terminated: terminated(last) },
    };
  }

  private phase(runtime: PodRuntime): string {
    if (runtime.failedReason !== undefined) return 'Failed';
    if (runtime.state.kind === 'terminated') return runtime.state.termination.exitCode === 0 ? 'Succeeded' : 'Failed';
    if (runtime.state.kind === 'running' || runtime.restartCount > 0 || runtime.lastTermination !== undefined) return 'Running';
    return 'Pending';
  }

  private writeStatus(store: KubeStore, pod: JsonObject, runtime: PodRuntime): void {
    const previous = childObject(pod, 'status') ?? {};
    const containersReady = runtime.ready && runtime.state.kind === 'running';
    const condition = (type: string, value: boolean, since: string): JsonObject => ({ type, status: value ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: since });
    const status: JsonObject = {
      phase: this.phase(runtime),
      conditions: [
        condition('PodScheduled', true, runtime.startTime),
        condition('Initialized', true, runtime.startTime),
        condition('ContainersReady', containersReady, runtime.readyChangedAt),
        condition('Ready', containersReady, runtime.readyChangedAt),
      ],
      hostIP: this.hostIp,
      hostIPs: [{ ip: this.hostIp }],
      podIP: runtime.ip,
      podIPs: [{ ip: runtime.ip }],
      startTime: runtime.startTime,
      qosClass: 'Burstable',
      containerStatuses: [this.containerStatus(runtime, containersOf(pod)[0])],
    };
    if (runtime.failedReason !== undefined) status['reason'] = runtime.failedReason.split(':')[0] ?? 'Failed';
    if (runtime.failedReason !== undefined) status['message'] = runtime.failedReason;
    if (jsonEqual(status, previous)) return;
    store.update(podsRef, runtime.namespace, runtime.name, { ...pod, status }, { subresource: 'status' });
  }
}

export interface WorkloadControllers {
  readonly kubelet: Kubelet;
  readonly statefulSets: StatefulSetController;
  readonly dns: ClusterDnsController;
}

/**
 * Registers the StatefulSet controller, cluster DNS (a hosts file under `stateDir`) and the
 * kubelet on a test server. They stop when the server closes (the kubelet stops every process).
 */
export async function installWorkloadControllers(server: KubeTestServer, options: Omit<KubeletOptions, 'hostsFile'> & { readonly hostsFile?: string }): Promise<WorkloadControllers> {
  const hostsFile = options.hostsFile ?? join(options.stateDir, 'hosts');
  const dns = new ClusterDnsController(hostsFile);
  const statefulSets = new StatefulSetController();
  const kubelet = new Kubelet({ ...options, hostsFile });
  await server.hooks.registerController(dns);
  await server.hooks.registerController(statefulSets);
  await server.hooks.registerController(kubelet);
  return { kubelet, statefulSets, dns };
}
