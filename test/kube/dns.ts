/**
 * Cluster DNS for the Kubernetes API test server, as a hosts file. Every "pod" runs as a process
 * on this machine with its own loopback address, so the names Kubernetes' DNS would serve are
 * written, in /etc/hosts format, to a file that the data node processes read through
 * `datanode/src/node/hosts-override.ts` (the kubelet passes its path in PHANTOMDB_HOSTS_FILE).
 *
 * Records, as CoreDNS serves them for `<ns>` and cluster domain `cluster.local`:
 * - a pod with `spec.hostname` and `spec.subdomain` naming a headless Service of its namespace:
 *   `<hostname>.<subdomain>.<ns>.svc.cluster.local` (and the shorter `.svc` and `.<ns>` forms), while
 *   the pod is Ready or the Service publishes not-ready addresses;
 * - a Service: `<svc>.<ns>.svc.cluster.local` (and shorter forms) → the addresses of the pods it
 *   selects (the same rule for readiness). A ClusterIP Service has no virtual IP here, so its name
 *   resolves to its pods' addresses directly, which is what a client connecting to it needs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { childObject, stringAt, type JsonObject } from './json.ts';
import type { ResourceRef } from './resources.ts';
import { labelSelectorToString, parseLabelSelector } from './selectors.ts';
import type { ControllerContext, KubeTestController } from './server.ts';
import { isDeleting, isPodReady, nameOf, namespaceOf, podsRef } from './statefulset-controller.ts';
import type { KubeStore } from './store.ts';

export const servicesRef: ResourceRef = { group: '', plural: 'services' };
export const defaultClusterDomain = 'cluster.local';

export interface HostsRecord {
  readonly address: string;
  readonly name: string;
}

/** `base.<ns>.svc.<domain>`, `base.<ns>.svc` and `base.<ns>`: the names a pod of any namespace can use. */
export function qualifiedNames(base: string, namespace: string, clusterDomain: string): string[] {
  return [`${base}.${namespace}.svc.${clusterDomain}`, `${base}.${namespace}.svc`, `${base}.${namespace}`];
}

function podIpOf(pod: JsonObject): string | undefined {
  const ip = stringAt(childObject(pod, 'status'), 'podIP');
  return ip === undefined || ip === '' ? undefined : ip;
}

function isHeadless(service: JsonObject): boolean {
  return stringAt(childObject(service, 'spec'), 'clusterIP') === 'None';
}

function publishesNotReady(service: JsonObject): boolean {
  return childObject(service, 'spec')?.['publishNotReadyAddresses'] === true;
}

function selectedPods(service: JsonObject, pods: readonly JsonObject[]): JsonObject[] {
  const selector = childObject(childObject(service, 'spec'), 'selector');
  if (selector === undefined || Object.keys(selector).length === 0) return [];
  const matches = parseLabelSelector(labelSelectorToString({ matchLabels: selector }));
  return pods.filter((pod) => matches(pod));
}

/** The DNS records of every pod and Service in the store, sorted (a pure function of the store's content). */
export function clusterDnsRecords(store: KubeStore, clusterDomain = defaultClusterDomain): HostsRecord[] {
  const records: HostsRecord[] = [];
  const pods = store.list(podsRef).filter((pod) => !isDeleting(pod) && podIpOf(pod) !== undefined);
  const services = store.list(servicesRef);
  const serviceByKey = new Map(services.map((service) => [`${namespaceOf(service)}/${nameOf(service)}`, service]));
  for (const pod of pods) {
    const spec = childObject(pod, 'spec');
    const hostname = stringAt(spec, 'hostname');
    const subdomain = stringAt(spec, 'subdomain');
    const address = podIpOf(pod);
    if (hostname === undefined || subdomain === undefined || address === undefined) continue;
    const service = serviceByKey.get(`${namespaceOf(pod)}/${subdomain}`);
    if (service === undefined || !isHeadless(service)) continue;
    if (!isPodReady(pod) && !publishesNotReady(service)) continue;
    for (const name of qualifiedNames(`${hostname}.${subdomain}`, namespaceOf(pod), clusterDomain)) records.push({ address, name });
  }
  for (const service of services) {
    const namespace = namespaceOf(service);
    const candidates = selectedPods(service, pods.filter((pod) => namespaceOf(pod) === namespace));
    for (const pod of candidates) {
      const address = podIpOf(pod);
      if (address === undefined || (!isPodReady(pod) && !publishesNotReady(service))) continue;
      for (const name of qualifiedNames(nameOf(service), namespace, clusterDomain)) records.push({ address, name });
    }
  }
  return records.sort((a, b) => (a.name === b.name ? (a.address < b.address ? -1 : 1) : a.name < b.name ? -1 : 1));
}

/** Renders records as /etc/hosts text (one line per address and name). */
export function renderHostsFile(records: readonly HostsRecord[]): string {
  const lines = ['# Written by the PhantomDB Kubernetes API test server (test/kube/dns.ts); rewritten on every change.'];
  for (const record of records) lines.push(`${record.address} ${record.name}`);
  return `${lines.join('\n')}\n`;
}

/** Replaces `path` with `text` atomically (write, then rename), so that readers never see half a file. */
export async function writeFileAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

/**
 * Keeps `hostsFile` equal to the cluster's DNS records: listeners only mark the file stale, and
 * one writer at a time rewrites it when its content changed.
 */
export class ClusterDnsController implements KubeTestController {
  readonly name = 'cluster-dns';
  private store: KubeStore | undefined;
  private readonly unsubscribes: (() => void)[] = [];
  private written: string | undefined;
  private writing: Promise<void> | undefined;
  private stale = false;
  private stopped = false;

  constructor(
    readonly hostsFile: string,
    private readonly clusterDomain = defaultClusterDomain,
  ) {}

  async start(context: ControllerContext): Promise<void> {
    this.store = context.store;
    for (const ref of [podsRef, servicesRef]) this.unsubscribes.push(context.store.subscribe(ref, () => this.markStale()));
    this.markStale();
    await this.flush();
  }

  stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    return this.writing ?? Promise.resolve();
  }

  /** Resolves once the file reflects every change made before the call. */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  private markStale(): void {
    this.stale = true;
    // The loop starts on a later microtask, so that `writing` is assigned before the loop can end and clear it.
    if (this.writing === undefined && !this.stopped) this.writing = Promise.resolve().then(() => this.writeLoop());
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.stale && !this.stopped && this.store !== undefined) {
        this.stale = false;
        const text = renderHostsFile(clusterDnsRecords(this.store, this.clusterDomain));
        if (text === this.written) continue;
        await writeFileAtomically(this.hostsFile, text);
        this.written = text;
      }
    } catch (error) {
      process.stderr.write(`cluster-dns: cannot write ${this.hostsFile}: ${error instanceof Error ? error.message : String(error)}\n`);
    } finally {
      this.writing = undefined;
    }
  }
}
