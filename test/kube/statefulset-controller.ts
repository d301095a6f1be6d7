/**
 * The StatefulSet controller of the Kubernetes API test server: what kube-controller-manager does
 * for StatefulSets, for the subset our operator relies on.
 *
 * - Pods `<sts>-<ordinal>` from the template (labels, annotations, owner reference, hostname and
 *   subdomain for pod DNS, `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`,
 *   `controller-revision-hash`); `podManagementPolicy` Parallel (all at once) or OrderedReady
 *   (create in ordinal order, each after its predecessors are Running and Ready; remove from the
 *   highest ordinal, one at a time).
 * - PVCs `<claim>-<sts>-<ordinal>` from `volumeClaimTemplates`, created before their pod and kept
 *   on scale-in (`persistentVolumeClaimRetentionPolicy.whenScaled: Retain`, the default) or deleted
 *   once their pod is gone (`Delete`); owned by the StatefulSet when `whenDeleted: Delete`.
 * - `updateStrategy` OnDelete: a pod is only replaced (with the current template) after someone
 *   deletes it. RollingUpdate: outdated pods at or above `partition` are deleted highest ordinal
 *   first, one at a time, while every pod is Ready.
 * - Failed pods are deleted and recreated; status (replicas, readyReplicas, availableReplicas,
 *   currentReplicas, updatedReplicas, current/update revision, observedGeneration) is written only
 *   when it changed.
 *
 * Store listeners only enqueue keys; reconciles run from a queue, re-reading the store.
 */
import { createHash } from 'node:crypto';
import { KubeApiError } from './errors.ts';
import { arrayAt, childObject, clone, isObject, jsonEqual, stringAt, type JsonObject, type JsonValue } from './json.ts';
import type { ResourceRef } from './resources.ts';
import type { ControllerContext, KubeTestController } from './server.ts';
import type { KubeStore, StoreEvent } from './store.ts';

export const podsRef: ResourceRef = { group: '', plural: 'pods' };
export const statefulSetsRef: ResourceRef = { group: 'apps', plural: 'statefulsets' };
export const claimsRef: ResourceRef = { group: '', plural: 'persistentvolumeclaims' };

export const podNameLabel = 'statefulset.kubernetes.io/pod-name';
export const podIndexLabel = 'apps.kubernetes.io/pod-index';
export const revisionLabel = 'controller-revision-hash';

/**
 * A set of keys to reconcile, drained one key at a time off the event loop. Adding a key that is
 * waiting already does nothing; a key added while it is being reconciled runs again afterwards.
 * A periodic resync re-enqueues every key the `resyncKeys` function names, so a missed change is
 * repaired within `resyncIntervalMs`.
 */
export class ReconcileQueue {
  private readonly waiting = new Set<string>();
  private draining = false;
  private stopped = false;
  private readonly resyncTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reconcile: (key: string) => void | Promise<void>,
    private readonly describe: string,
    resync?: { readonly intervalMs: number; readonly keys: () => readonly string[] },
  ) {
    if (resync !== undefined) {
      this.resyncTimer = setInterval(() => {
        for (const key of resync.keys()) this.add(key);
      }, resync.intervalMs);
      this.resyncTimer.unref();
    }
  }

  add(key: string): void {
    if (this.stopped) return;
    this.waiting.add(key);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      const next = this.waiting.values().next();
      if (next.done === true) break;
      this.waiting.delete(next.value);
      try {
        await this.reconcile(next.value);
      } catch (error) {
        // A conflict means someone changed the object meanwhile: their event enqueued it again.
        if (!(error instanceof KubeApiError && (error.code === 409 || error.code === 404))) {
          process.stderr.write(`${this.describe}: reconcile of ${next.value} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        }
        const retryKey = next.value;
        setTimeout(() => this.add(retryKey), 200).unref();
      }
    }
    this.draining = false;
  }

  stop(): void {
    this.stopped = true;
    this.waiting.clear();
    if (this.resyncTimer !== undefined) clearInterval(this.resyncTimer);
  }
}

export function nameOf(obj: JsonObject | undefined): string {
  return stringAt(childObject(obj, 'metadata'), 'name') ?? '';
}

export function namespaceOf(obj: JsonObject | undefined): string {
  return stringAt(childObject(obj, 'metadata'), 'namespace') ?? '';
}

export function uidOf(obj: JsonObject | undefined): string {
  return stringAt(childObject(obj, 'metadata'), 'uid') ?? '';
}

export function isDeleting(obj: JsonObject | undefined): boolean {
  return stringAt(childObject(obj, 'metadata'), 'deletionTimestamp') !== undefined;
}

/** The store's copy of an object, or undefined when it does not exist. */
export function findObject(store: KubeStore, ref: ResourceRef, namespace: string, name: string): JsonObject | undefined {
  try {
    return store.get(ref, namespace, name);
  } catch (error) {
    if (error instanceof KubeApiError && error.code === 404) return undefined;
    throw error;
  }
}

/** The uid of the object's controlling owner, if any. */
export function controllerUidOf(obj: JsonObject): string | undefined {
  for (const owner of arrayAt(childObject(obj, 'metadata'), 'ownerReferences') ?? []) {
    if (isObject(owner) && owner['controller'] === true) return stringAt(owner, 'uid');
  }
  return undefined;
}

/** Whether the pod's Ready condition is True. */
export function isPodReady(pod: JsonObject): boolean {
  for (const condition of arrayAt(childObject(pod, 'status'), 'conditions') ?? []) {
    if (isObject(condition) && condition['type'] === 'Ready') return condition['status'] === 'True';
  }
  return false;
}

function phaseOf(pod: JsonObject): string {
  return stringAt(childObject(pod, 'status'), 'phase') ?? 'Pending';
}

function numberAt(obj: JsonObject | undefined, key: string, fallback: number): number {
  const value = obj?.[key];
  return typeof value === 'number' ? value : fallback;
}

/** The ordinal of `<sts>-<ordinal>`, or undefined for other names. */
export function ordinalOf(statefulSetName: string, podName: string): number | undefined {
  const prefix = `${statefulSetName}-`;
  if (!podName.startsWith(prefix)) return undefined;
  const rest = podName.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

/** The revision hash of a pod template: equal templates, equal hashes (like a ControllerRevision's name suffix). */
export function templateRevision(template: JsonValue | undefined): string {
  const canonical = (value: JsonValue | undefined): string => {
    if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
    if (isObject(value)) return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(',')}}`;
    return JSON.stringify(value ?? null);
  };
  return createHash('sha256').update(canonical(template)).digest('hex').slice(0, 10);
}

interface SetView {
  readonly set: JsonObject;
  readonly name: string;
  readonly namespace: string;
  readonly spec: JsonObject;
  readonly replicas: number;
  readonly revision: string;
  readonly ownerReference: JsonObject;
}

function viewOf(set: JsonObject): SetView {
  const spec = childObject(set, 'spec') ?? {};
  const name = nameOf(set);
  return {
    set,
    name,
    namespace: namespaceOf(set),
    spec,
    replicas: numberAt(spec, 'replicas', 1),
    revision: `${name}-${templateRevision(spec['template'])}`,
    ownerReference: { apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: uidOf(set), controller: true, blockOwnerDeletion: true },
  };
}

/** The claim name of one template for one pod: `<claim>-<sts>-<ordinal>`. */
export function claimName(claimTemplate: string, statefulSetName: string, ordinal: number): string {
  return `${claimTemplate}-${statefulSetName}-${ordinal}`;
}

function claimTemplates(view: SetView): JsonObject[] {
  return (arrayAt(view.spec, 'volumeClaimTemplates') ?? []).filter(isObject);
}

function retentionPolicy(view: SetView): { whenDeleted: string; whenScaled: string } {
  const policy = childObject(view.spec, 'persistentVolumeClaimRetentionPolicy');
  return { whenDeleted: stringAt(policy, 'whenDeleted') ?? 'Retain', whenScaled: stringAt(policy, 'whenScaled') ?? 'Retain' };
}

/** The pod a StatefulSet wants at `ordinal`, from its current template. */
export function desiredPod(view: SetView, ordinal: number): JsonObject {
  const template = childObject(view.spec, 'template') ?? {};
  const templateMetadata = childObject(template, 'metadata') ?? {};
  const podName = `${view.name}-${ordinal}`;
  const spec = clone(childObject(template, 'spec') ?? {});
  spec['hostname'] = podName;
  const serviceName = stringAt(view.spec, 'serviceName');
  if (serviceName !== undefined && serviceName !== '') spec['subdomain'] = serviceName;
  const volumes = (arrayAt(spec, 'volumes') ?? []).filter(isObject);
  for (const claim of claimTemplates(view)) {
    const claimTemplateName = nameOf(claim);
    if (volumes.some((volume) => volume['name'] === claimTemplateName)) continue;
    volumes.push({ name: claimTemplateName, persistentVolumeClaim: { claimName: claimName(claimTemplateName, view.name, ordinal) } });
  }
  if (volumes.length > 0) spec['volumes'] = volumes;
  const labels = { ...(childObject(templateMetadata, 'labels') ?? {}), [podNameLabel]: podName, [podIndexLabel]: String(ordinal), [revisionLabel]: view.revision };
  const metadata: JsonObject = { name: podName, namespace: view.namespace, labels, ownerReferences: [view.ownerReference] };
  const annotations = childObject(templateMetadata, 'annotations');
  if (annotations !== undefined) metadata['annotations'] = clone(annotations);
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

function desiredClaim(view: SetView, template: JsonObject, ordinal: number): JsonObject {
  const templateMetadata = childObject(template, 'metadata') ?? {};
  const selectorLabels = childObject(childObject(view.spec, 'selector'), 'matchLabels') ?? {};
  const metadata: JsonObject = {
    name: claimName(nameOf(template), view.name, ordinal),
    namespace: view.namespace,
    labels: { ...(childObject(templateMetadata, 'labels') ?? {}), ...selectorLabels },
  };
  const annotations = childObject(templateMetadata, 'annotations');
  if (annotations !== undefined) metadata['annotations'] = clone(annotations);
  if (retentionPolicy(view).whenDeleted === 'Delete') metadata['ownerReferences'] = [{ ...view.ownerReference, controller: false }];
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata, spec: clone(childObject(template, 'spec') ?? {}) };
}

/** A provisioned claim: Bound, with the requested capacity (the kubelet gives it a directory). */
function boundClaimStatus(claim: JsonObject): JsonObject {
  const spec = childObject(claim, 'spec') ?? {};
  const requests = childObject(childObject(spec, 'resources'), 'requests') ?? {};
  return { phase: 'Bound', accessModes: clone(arrayAt(spec, 'accessModes') ?? ['ReadWriteOnce']), capacity: clone(requests) };
}

export interface StatefulSetControllerOptions {
  /** Period of a full resync of every StatefulSet (default 2,000 ms). */
  readonly resyncIntervalMs?: number;
}

/** The controller; register it with `server.hooks.registerController`. */
export class StatefulSetController implements KubeTestController {
  readonly name = 'statefulset-controller';
  private context: ControllerContext | undefined;
  private queue: ReconcileQueue | undefined;
  private readonly unsubscribes: (() => void)[] = [];

  constructor(private readonly options: StatefulSetControllerOptions = {}) {}

  start(context: ControllerContext): void {
    this.context = context;
    const store = context.store;
    const queue = new ReconcileQueue((key) => this.reconcile(key), this.name, {
      intervalMs: this.options.resyncIntervalMs ?? 2000,
      keys: () => store.list(statefulSetsRef).map((set) => `${namespaceOf(set)}/${nameOf(set)}`),
    });
    this.queue = queue;
    this.unsubscribes.push(store.subscribe(statefulSetsRef, (event) => queue.add(`${namespaceOf(event.object)}/${nameOf(event.object)}`)));
    this.unsubscribes.push(store.subscribe(podsRef, (event) => this.enqueueOwner(event)));
    this.unsubscribes.push(store.subscribe(claimsRef, (event) => this.enqueueOwner(event)));
    for (const set of store.list(statefulSetsRef)) queue.add(`${namespaceOf(set)}/${nameOf(set)}`);
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.queue?.stop();
  }

  /** Pods name their StatefulSet by owner reference; claims by the `<claim>-<sts>-<n>` name (resync covers the rest). */
  private enqueueOwner(event: StoreEvent): void {
    for (const owner of arrayAt(childObject(event.object, 'metadata'), 'ownerReferences') ?? []) {
      if (isObject(owner) && owner['kind'] === 'StatefulSet') this.queue?.add(`${namespaceOf(event.object)}/${stringAt(owner, 'name') ?? ''}`);
    }
  }

  private reconcile(key: string): void {
    const store = this.context?.store;
    if (store === undefined) return;
    const [namespace = '', name = ''] = key.split('/');
    const set = findObject(store, statefulSetsRef, namespace, name);
    if (set === undefined || isDeleting(set)) return;
    const view = viewOf(set);
    const pods = store.list(podsRef, namespace).filter((pod) => controllerUidOf(pod) === uidOf(set) && ordinalOf(name, nameOf(pod)) !== undefined);
    const byOrdinal = new Map(pods.map((pod) => [ordinalOf(name, nameOf(pod)) ?? -1, pod]));
    this.bindClaims(store, namespace);
    this.deleteFailedPods(store, pods);
    const ordered = stringAt(view.spec, 'podManagementPolicy') === 'OrderedReady';
    if (!this.createMissingPods(store, view, byOrdinal, ordered)) {
      this.writeStatus(store, view, pods);
      return;
    }
    this.removeCondemnedPods(store, view, byOrdinal, ordered);
    this.deleteScaledClaims(store, view, byOrdinal);
    this.rollPods(store, view, pods);
    this.writeStatus(store, view, pods);
  }

  /** Claims in the namespace that are not yet provisioned become Bound (there is one storage class: a directory). */
  private bindClaims(store: KubeStore, namespace: string): void {
    for (const claim of store.list(claimsRef, namespace)) {
      if (stringAt(childObject(claim, 'status'), 'phase') === 'Bound' || isDeleting(claim)) continue;
      store.update(claimsRef, namespace, nameOf(claim), { ...claim, status: boundClaimStatus(claim) }, { subresource: 'status' });
    }
  }

  private deleteFailedPods(store: KubeStore, pods: readonly JsonObject[]): void {
    for (const pod of pods) {
      if (phaseOf(pod) === 'Failed' && !isDeleting(pod)) store.delete(podsRef, namespaceOf(pod), nameOf(pod));
    }
  }

  private ensureClaims(store: KubeStore, view: SetView, ordinal: number): void {
    for (const template of claimTemplates(view)) {
      const wanted = desiredClaim(view, template, ordinal);
      const existing = findObject(store, claimsRef, view.namespace, nameOf(wanted));
      if (existing === undefined) {
        const created = store.create(claimsRef, view.namespace, wanted);
        store.update(claimsRef, view.namespace, nameOf(created), { ...created, status: boundClaimStatus(created) }, { subresource: 'status' });
      }
    }
  }

  /**
   * Creates the pods (and their claims) of ordinals below `replicas` that do not exist. With
   * OrderedReady, only the first missing one, and only when every lower ordinal is Running and
   * Ready. Returns false when an ordered StatefulSet must wait before anything else happens.
   */
  private createMissingPods(store: KubeStore, view: SetView, byOrdinal: ReadonlyMap<number, JsonObject>, ordered: boolean): boolean {
    for (let ordinal = 0; ordinal < view.replicas; ordinal++) {
      const existing = byOrdinal.get(ordinal);
      if (existing !== undefined) {
        if (ordered && (isDeleting(existing) || phaseOf(existing) !== 'Running' || !isPodReady(existing))) return false;
        continue;
      }
      if (findObject(store, podsRef, view.namespace, `${view.name}-${ordinal}`) !== undefined) continue; // someone else's pod holds the name
      this.ensureClaims(store, view, ordinal);
      store.create(podsRef, view.namespace, desiredPod(view, ordinal));
      if (ordered) return false;
    }
    return true;
  }

  /** Deletes pods at ordinals >= replicas: all at once (Parallel) or the highest first, one at a time. */
  private removeCondemnedPods(store: KubeStore, view: SetView, byOrdinal: ReadonlyMap<number, JsonObject>, ordered: boolean): void {
    const condemned = [...byOrdinal.entries()].filter(([ordinal]) => ordinal >= view.replicas).sort(([a], [b]) => b - a);
    for (const [, pod] of condemned) {
      if (isDeleting(pod)) {
        if (ordered) return;
        continue;
      }
      store.delete(podsRef, view.namespace, nameOf(pod));
      if (ordered) return;
    }
  }

  /** With `whenScaled: Delete`, claims of ordinals >= replicas go once their pod is gone. */
  private deleteScaledClaims(store: KubeStore, view: SetView, byOrdinal: ReadonlyMap<number, JsonObject>): void {
    if (retentionPolicy(view).whenScaled !== 'Delete') return;
    for (const claim of store.list(claimsRef, view.namespace)) {
      for (const template of claimTemplates(view)) {
        const prefix = `${nameOf(template)}-`;
        if (!nameOf(claim).startsWith(prefix)) continue;
        const ordinal = ordinalOf(view.name, nameOf(claim).slice(prefix.length));
        if (ordinal === undefined || ordinal < view.replicas || byOrdinal.has(ordinal) || isDeleting(claim)) continue;
        store.delete(claimsRef, view.namespace, nameOf(claim));
      }
    }
  }

  /** RollingUpdate only: delete the highest outdated pod at or above the partition while all pods are Ready. */
  private rollPods(store: KubeStore, view: SetView, pods: readonly JsonObject[]): void {
    const strategy = childObject(view.spec, 'updateStrategy');
    if ((stringAt(strategy, 'type') ?? 'RollingUpdate') !== 'RollingUpdate') return;
    const partition = numberAt(childObject(strategy, 'rollingUpdate'), 'partition', 0);
    const live = pods.filter((pod) => (ordinalOf(view.name, nameOf(pod)) ?? 0) < view.replicas);
    if (live.length < view.replicas || live.some((pod) => isDeleting(pod) || !isPodReady(pod))) return;
    const outdated = live
      .filter((pod) => (ordinalOf(view.name, nameOf(pod)) ?? 0) >= partition && childObject(childObject(pod, 'metadata'), 'labels')?.[revisionLabel] !== view.revision)
      .sort((a, b) => (ordinalOf(view.name, nameOf(b)) ?? 0) - (ordinalOf(view.name, nameOf(a)) ?? 0));
    const first = outdated[0];
    if (first !== undefined) store.delete(podsRef, view.namespace, nameOf(first));
  }

  private writeStatus(store: KubeStore, view: SetView, pods: readonly JsonObject[]): void {
    const previous = childObject(view.set, 'status') ?? {};
    const revisionOf = (pod: JsonObject): JsonValue | undefined => childObject(childObject(pod, 'metadata'), 'labels')?.[revisionLabel];
    const updated = pods.filter((pod) => revisionOf(pod) === view.revision).length;
    const ready = pods.filter((pod) => !isDeleting(pod) && isPodReady(pod)).length;
    const allUpdated = updated === pods.length && pods.length >= view.replicas;
    const currentRevision = allUpdated ? view.revision : (stringAt(previous, 'currentRevision') ?? view.revision);
    const status: JsonObject = {
      observedGeneration: numberAt(childObject(view.set, 'metadata'), 'generation', 1),
      replicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: pods.filter((pod) => revisionOf(pod) === currentRevision).length,
      updatedReplicas: updated,
      currentRevision,
      updateRevision: view.revision,
      collisionCount: 0,
    };
    if (jsonEqual(status, previous)) return;
    store.update(statefulSetsRef, view.namespace, view.name, { ...view.set, status }, { subresource: 'status' });
  }
}
