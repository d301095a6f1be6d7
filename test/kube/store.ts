/**
 * The object store of the Kubernetes API test server: one global, increasing resourceVersion;
 * create/get/list/update/delete with the semantics of the real API server (conflicts, generation,
 * status subresource, finalizers, schema validation of custom objects), a bounded event history
 * for watches, and owner-reference garbage collection. Everything is synchronous and in memory;
 * listeners are called synchronously after each commit and must only enqueue work.
 */
import { randomUUID } from 'node:crypto';
import { assert } from '../../datanode/src/assert.ts';
import { alreadyExists, badRequest, conflict, invalid, KubeApiError, notFound, type FieldCause } from './errors.ts';
import { arrayAt, childObject, clone, isObject, jsonEqual, objectAt, removeKey, stringAt, type JsonObject } from './json.ts';
import { prepareBuiltinCreate, prepareBuiltinUpdate } from './builtins.ts';
import { apiVersionOf, resourceId, resourceTypeOfCrd, type ResourceRef, type ResourceRegistry, type ResourceType } from './resources.ts';
import { applySchema } from './schema.ts';

export interface Clock {
  now(): Date;
}

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A committed change. `object` is the new state; for DELETED, the last state with the deleting resourceVersion. */
export interface StoreEvent {
  readonly type: StoreEventType;
  readonly ref: ResourceRef;
  readonly resourceVersion: number;
  readonly object: JsonObject;
  readonly oldObject?: JsonObject;
}

export type StoreListener = (event: StoreEvent) => void;

export type PropagationPolicy = 'Foreground' | 'Background' | 'Orphan';

export interface WriteOptions {
  /** Validate and compute the result, but do not store it (`?dryRun=All`). */
  readonly dryRun?: boolean;
}

export interface UpdateOptions extends WriteOptions {
  /** `status` writes only the status; the main resource ignores status when the subresource exists. */
  readonly subresource?: 'status';
}

export interface DeleteOptions extends WriteOptions {
  readonly propagationPolicy?: PropagationPolicy;
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
}

export interface DeleteResult {
  /** The object as it is now: removed (`deleted`) or waiting for finalizers. */
  readonly object: JsonObject;
  readonly deleted: boolean;
}

export interface StoreOptions {
  readonly clock: Clock;
  readonly random: () => number;
  /** How many events are kept for watches that resume from a resourceVersion. */
  readonly historyEventsMax: number;
}

const nameRegex = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const nameLengthMax = 253;
const generateNameSuffixLength = 5;
const generateNameAttemptsMax = 8;
const gcPassesMax = 64;
const defaultNamespaces = ['default', 'kube-system', 'kube-public'];

/** Metadata of an object (created when absent). */
export function metadataOf(obj: JsonObject): JsonObject {
  return objectAt(obj, 'metadata');
}

function nameOf(obj: JsonObject): string {
  return stringAt(childObject(obj, 'metadata'), 'name') ?? '';
}

function namespaceOf(obj: JsonObject): string {
  return stringAt(childObject(obj, 'metadata'), 'namespace') ?? '';
}

function finalizersOf(obj: JsonObject): string[] {
  return (arrayAt(childObject(obj, 'metadata'), 'finalizers') ?? []).filter((item): item is string => typeof item === 'string');
}

function isDeleting(obj: JsonObject): boolean {
  return stringAt(childObject(obj, 'metadata'), 'deletionTimestamp') !== undefined;
}

function storageVersion(type: ResourceType): string {
  const version = type.versions.find((candidate) => candidate.storage) ?? type.versions[0];
  return version?.name ?? 'v1';
}

/** The part of an object whose change bumps `metadata.generation`. */
function specPart(obj: JsonObject, hasStatusSubresource: boolean): JsonObject {
  const { metadata: _metadata, status, apiVersion: _apiVersion, kind: _kind, ...rest } = obj;
  return hasStatusSubresource || status === undefined ? rest : { ...rest, status };
}

export class KubeStore {
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<{ readonly id: string | undefined; readonly listener: StoreListener }>();
  private revision = 0;
  /** Events with a resourceVersion at or below this are no longer in `history`. */
  private compactedRevision = 0;
  private gcScheduled = false;
  private closed = false;

  constructor(
    readonly registry: ResourceRegistry,
    private readonly options: StoreOptions,
  ) {
    for (const name of defaultNamespaces) this.create({ group: '', plural: 'namespaces' }, '', { metadata: { name } });
  }

  /** The latest committed resourceVersion. */
  resourceVersion(): string {
    return String(this.revision);
  }

  /** Registers a listener for committed changes of one resource type (or all, when `ref` is undefined). */
  subscribe(ref: ResourceRef | undefined, listener: StoreListener): () => void {
    const entry = { id: ref === undefined ? undefined : resourceId(ref), listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  /** Events of `ref` after `fromRevision`; throws 410 Gone when history no longer reaches back that far. */
  eventsSince(ref: ResourceRef, fromRevision: number): StoreEvent[] {
    if (fromRevision < this.compactedRevision) {
      throw new KubeApiError('Expired', `too old resource version: ${fromRevision} (${this.compactedRevision + 1})`);
    }
    const id = resourceId(ref);
    return this.history.filter((event) => event.resourceVersion > fromRevision && resourceId(event.ref) === id);
  }

  /** Drops the whole event history, so that every watch from an older resourceVersion gets 410 Gone. */
  compactHistory(): void {
    this.history.length = 0;
    this.compactedRevision = this.revision;
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  typeOf(ref: ResourceRef): ResourceType {
    const type = this.registry.get(ref);
    if (type === undefined) throw new KubeApiError('NotFound', `the server could not find the requested resource (${resourceId(ref)})`);
    return type;
  }

  private bucket(ref: ResourceRef): Map<string, JsonObject> {
    const id = resourceId(ref);
    let bucket = this.objects.get(id);
    if (bucket === undefined) {
      bucket = new Map();
      this.objects.set(id, bucket);
    }
    return bucket;
  }

  private find(ref: ResourceRef, namespace: string, name: string): JsonObject | undefined {
    return this.bucket(ref).get(`${namespace}/${name}`);
  }

  /** A copy of one object; 404 NotFound when absent. */
  get(ref: ResourceRef, namespace: string, name: string): JsonObject {
    const type = this.typeOf(ref);
    const found = this.find(ref, type.namespaced ? namespace : '', name);
    if (found === undefined) throw notFound(ref.group, ref.plural, name);
    return clone(found);
  }

  /** Copies of the objects of a type, in one namespace or all (`namespace` undefined), sorted by namespace/name. */
  list(ref: ResourceRef, namespace?: string): JsonObject[] {
    this.typeOf(ref);
    const items = [...this.bucket(ref).entries()]
      .filter(([, obj]) => namespace === undefined || namespaceOf(obj) === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return items.map(([, obj]) => clone(obj));
  }

  private commit(type: StoreEventType, ref: ResourceRef, object: JsonObject, oldObject?: JsonObject): JsonObject {
    assert(!this.closed, 'store is closed');
    this.revision += 1;
    metadataOf(object)['resourceVersion'] = String(this.revision);
    const key = `${namespaceOf(object)}/${nameOf(object)}`;
    if (type === 'DELETED') this.bucket(ref).delete(key);
    else this.bucket(ref).set(key, object);
    const event: StoreEvent = { type, ref: { group: ref.group, plural: ref.plural }, resourceVersion: this.revision, object, ...(oldObject === undefined ? {} : { oldObject }) };
    this.history.push(event);
    while (this.history.length > this.options.historyEventsMax) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.compactedRevision = dropped.resourceVersion;
    }
    const id = resourceId(ref);
    for (const entry of [...this.listeners]) {
      if (entry.id !== undefined && entry.id !== id) continue;
      // A listener's failure must not undo or interrupt a committed write; it is reported instead.
      try {
        entry.listener(event);
      } catch (error) {
        process.stderr.write(`kube test server: store listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      }
    }
    this.scheduleGc();
    return clone(object);
  }

  private timestamp(): string {
    return this.options.clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  private generatedName(prefix: string): string {
    const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
    let suffix = '';
    for (let i = 0; i < generateNameSuffixLength; i++) {
      suffix += alphabet[Math.floor(this.options.random() * alphabet.length)] ?? 'x';
    }
    return `${prefix}${suffix}`;
  }

  private resolveName(ref: ResourceRef, namespace: string, metadata: JsonObject, kind: string): string {
    const name = stringAt(metadata, 'name');
    if (name !== undefined && name !== '') return name;
    const prefix = stringAt(metadata, 'generateName');
    if (prefix === undefined || prefix === '') {
      throw invalid(kind, ref.group, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    }
    for (let attempt = 0; attempt < generateNameAttemptsMax; attempt++) {
      const candidate = this.generatedName(prefix);
      if (this.find(ref, namespace, candidate) === undefined) return candidate;
    }
    throw alreadyExists(ref.group, ref.plural, prefix);
  }

  private checkName(type: ResourceType, name: string): void {
    if (name.length <= nameLengthMax && nameRegex.test(name)) return;
    throw invalid(type.kind, type.group, name, [
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      },
    ]);
  }

  private checkNamespace(type: ResourceType, bodyNamespace: string | undefined, namespace: string): void {
    if (!type.namespaced) return;
    if (bodyNamespace !== undefined && bodyNamespace !== '' && bodyNamespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const namespaceObject = this.find({ group: '', plural: 'namespaces' }, '', namespace);
    if (namespaceObject === undefined) throw notFound('', 'namespaces', namespace);
    if (isDeleting(namespaceObject)) {
      throw new KubeApiError('Forbidden', `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  /** Applies the schema of a custom type's storage version; 422 Invalid with every failing field. */
  private validateCustom(type: ResourceType, obj: JsonObject): JsonObject {
    const version = type.versions.find((candidate) => candidate.storage) ?? type.versions[0];
    if (!type.custom || version?.schema === undefined) return obj;
    const result = applySchema(obj, version.schema);
    if (result.causes.length > 0) throw invalid(type.kind, type.group, nameOf(obj), result.causes);
    return result.object;
  }

  /** Creates an object; the server assigns uid, timestamps, resourceVersion and generation. */
  create(ref: ResourceRef, namespace: string, body: JsonObject, options: WriteOptions = {}): JsonObject {
    const type = this.typeOf(ref);
    const ns = type.namespaced ? namespace : '';
    let obj = clone(body);
    const metadata = metadataOf(obj);
    this.checkNamespace(type, stringAt(metadata, 'namespace'), ns);
    const name = this.resolveName(ref, ns, metadata, type.kind);
    this.checkName(type, name);
    if (this.find(ref, ns, name) !== undefined) throw alreadyExists(ref.group, ref.plural, name);
    obj['apiVersion'] = apiVersionOf(type.group, storageVersion(type));
    obj['kind'] = type.kind;
    metadata['name'] = name;
    if (type.namespaced) metadata['namespace'] = ns;
    else delete metadata['namespace'];
    metadata['uid'] = randomUUID();
    metadata['creationTimestamp'] = this.timestamp();
    metadata['generation'] = 1;
    for (const field of ['resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink']) removeKey(metadata, field);
    if (type.versions.some((version) => version.statusSubresource)) delete obj['status'];
    obj = this.validateCustom(type, obj);
    prepareBuiltinCreate(type, obj, { random: this.options.random });
    if (!type.custom && type.kind === 'CustomResourceDefinition') this.checkCrd(obj);
    if (options.dryRun === true) return obj;
    const created = this.commit('ADDED', ref, obj);
    if (ref.group === 'apiextensions.k8s.io' && ref.plural === 'customresourcedefinitions') this.registry.install(resourceTypeOfCrd(created));
    return created;
  }

  private checkCrd(crd: JsonObject): void {
    const installed = resourceTypeOfCrd(crd);
    const expected = `${installed.plural}.${installed.group}`;
    const causes: FieldCause[] = [];
    if (nameOf(crd) !== expected) {
      causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(nameOf(crd))}: must be spec.names.plural+"."+spec.group` });
    }
    if (installed.versions.filter((version) => version.storage).length !== 1) {
      causes.push({ reason: 'FieldValueInvalid', field: 'spec.versions', message: 'Invalid value: "array": must have exactly one version marked as storage version' });
    }
    if (installed.kind === '') causes.push({ reason: 'FieldValueRequired', field: 'spec.names.kind', message: 'Required value' });
    if (causes.length > 0) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', nameOf(crd), causes);
  }

  /** The new state of an update before validation: immutable metadata kept, status per subresource. */
  private mergeUpdate(type: ResourceType, existing: JsonObject, body: JsonObject, subresource: 'status' | undefined): JsonObject {
    const hasStatus = type.versions.some((version) => version.statusSubresource);
    let next: JsonObject;
    if (subresource === 'status') {
      next = clone(existing);
      if (body['status'] === undefined) delete next['status'];
      else next['status'] = clone(body['status']);
    } else {
      next = clone(body);
      if (hasStatus) {
        if (existing['status'] === undefined) delete next['status'];
        else next['status'] = clone(existing['status']);
      }
    }
    next['apiVersion'] = existing['apiVersion'] ?? null;
    next['kind'] = existing['kind'] ?? null;
    const metadata = metadataOf(next);
    const oldMetadata = metadataOf(existing);
    for (const field of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      const value = oldMetadata[field];
      if (value === undefined) removeKey(metadata, field);
      else metadata[field] = value;
    }
    delete metadata['managedFields'];
    return next;
  }

  /** Bumps `metadata.generation` when anything but metadata (and status, with a status subresource) changed. */
  private bumpGeneration(type: ResourceType, existing: JsonObject, next: JsonObject): void {
    const hasStatus = type.versions.some((version) => version.statusSubresource);
    const generation = metadataOf(existing)['generation'];
    if (typeof generation !== 'number') return;
    const changedSpec = !jsonEqual(specPart(next, hasStatus), specPart(existing, hasStatus));
    metadataOf(next)['generation'] = changedSpec ? generation + 1 : generation;
  }

  /** Replaces an object (PUT). A stale `metadata.resourceVersion` is 409 Conflict. */
  update(ref: ResourceRef, namespace: string, name: string, body: JsonObject, options: UpdateOptions = {}): JsonObject {
    const type = this.typeOf(ref);
    const ns = type.namespaced ? namespace : '';
    const existing = this.find(ref, ns, name);
    if (existing === undefined) throw notFound(ref.group, ref.plural, name);
    const bodyMetadata = childObject(body, 'metadata');
    const bodyName = stringAt(bodyMetadata, 'name');
    if (bodyName !== undefined && bodyName !== name) throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    const expectedVersion = stringAt(bodyMetadata, 'resourceVersion');
    if (expectedVersion !== undefined && expectedVersion !== '' && expectedVersion !== stringAt(metadataOf(existing), 'resourceVersion')) {
      throw conflict(ref.group, ref.plural, name);
    }
    let next = this.mergeUpdate(type, existing, body, options.subresource);
    metadataOf(next)['resourceVersion'] = stringAt(metadataOf(existing), 'resourceVersion') ?? '';
    next = this.validateCustom(type, next);
    prepareBuiltinUpdate(type, next, existing);
    this.bumpGeneration(type, existing, next);
    if (isDeleting(existing)) this.checkNoNewFinalizers(type, existing, next);
    if (jsonEqual(next, existing) || options.dryRun === true) return clone(next);
    return this.commitUpdate(ref, type, existing, next);
  }

  private checkNoNewFinalizers(type: ResourceType, existing: JsonObject, next: JsonObject): void {
    const before = finalizersOf(existing);
    const added = finalizersOf(next).filter((finalizer) => !before.includes(finalizer));
    if (added.length === 0) return;
    throw new KubeApiError('Forbidden', `${type.kind} "${nameOf(existing)}" is being deleted: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`);
  }

  private commitUpdate(ref: ResourceRef, type: ResourceType, existing: JsonObject, next: JsonObject): JsonObject {
    const updated = this.commit('MODIFIED', ref, next, clone(existing));
    if (ref.group === 'apiextensions.k8s.io' && ref.plural === 'customresourcedefinitions') this.registry.install(resourceTypeOfCrd(updated));
    if (isDeleting(updated) && finalizersOf(updated).length === 0 && !this.hasContent(ref, updated)) {
      return this.remove(ref, updated).object;
    }
    return updated;
  }

  /** A namespace can only go away when it holds nothing. */
  private hasContent(ref: ResourceRef, obj: JsonObject): boolean {
    if (ref.group !== '' || ref.plural !== 'namespaces') return false;
    const namespace = nameOf(obj);
    for (const type of this.registry.all()) {
      if (!type.namespaced) continue;
      for (const item of this.bucket(type).values()) if (namespaceOf(item) === namespace) return true;
    }
    return false;
  }

  private remove(ref: ResourceRef, obj: JsonObject): DeleteResult {
    const removed = this.commit('DELETED', ref, clone(obj), clone(obj));
    if (ref.group === 'apiextensions.k8s.io' && ref.plural === 'customresourcedefinitions') this.uninstallCrd(removed);
    return { object: removed, deleted: true };
  }

  private uninstallCrd(crd: JsonObject): void {
    const installed = resourceTypeOfCrd(crd);
    if (this.registry.get(installed) === undefined) return;
    for (const item of [...this.bucket(installed).values()]) this.commit('DELETED', installed, clone(item), clone(item));
    this.objects.delete(resourceId(installed));
    this.registry.uninstall(installed);
  }

  /**
   * Deletes an object. With finalizers (or a Foreground/Orphan policy, which add one) the object
   * gets a deletionTimestamp and stays until its finalizers are removed; otherwise it is removed.
   */
  delete(ref: ResourceRef, namespace: string, name: string, options: DeleteOptions = {}): DeleteResult {
    const type = this.typeOf(ref);
    const existing = this.find(ref, type.namespaced ? namespace : '', name);
    if (existing === undefined) throw notFound(ref.group, ref.plural, name);
    const metadata = metadataOf(existing);
    const preconditions = options.preconditions ?? {};
    if (preconditions.uid !== undefined && preconditions.uid !== stringAt(metadata, 'uid')) {
      throw new KubeApiError('Conflict', `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${stringAt(metadata, 'uid') ?? ''}`);
    }
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== stringAt(metadata, 'resourceVersion')) {
      throw conflict(ref.group, ref.plural, name);
    }
    const next = clone(existing);
    const finalizers = finalizersOf(next);
    const policyFinalizer = options.propagationPolicy === 'Foreground' ? 'foregroundDeletion' : options.propagationPolicy === 'Orphan' ? 'orphan' : undefined;
    if (policyFinalizer !== undefined && !finalizers.includes(policyFinalizer)) finalizers.push(policyFinalizer);
    if (finalizers.length > 0) metadataOf(next)['finalizers'] = finalizers;
    const mustWait = finalizers.length > 0 || this.hasContent(ref, next);
    if (options.dryRun === true) return { object: clone(next), deleted: !mustWait };
    if (!mustWait) return this.remove(ref, existing);
    if (!isDeleting(next)) {
      metadataOf(next)['deletionTimestamp'] = this.timestamp();
      metadataOf(next)['deletionGracePeriodSeconds'] = 0;
      if (ref.group === '' && ref.plural === 'namespaces') objectAt(next, 'status')['phase'] = 'Terminating';
    }
    if (jsonEqual(next, existing)) return { object: clone(existing), deleted: false };
    return { object: this.commit('MODIFIED', ref, next, clone(existing)), deleted: false };
  }

  /** Runs garbage collection on the next turn of the event loop (coalesced). */
  private scheduleGc(): void {
    if (this.gcScheduled || this.closed) return;
    this.gcScheduled = true;
    setImmediate(() => {
      this.gcScheduled = false;
      if (!this.closed) this.collectGarbage();
    });
  }

  /**
   * Owner-reference garbage collection and namespace cleanup, repeated until nothing changes:
   * dependents of gone owners are deleted (or lose the dangling reference when another owner
   * remains), dependents of an owner deleted with Orphan lose the reference, and dependents of an
   * owner deleted with Foreground are deleted before the owner's finalizer is removed.
   */
  collectGarbage(): void {
    for (let pass = 0; pass < gcPassesMax; pass++) {
      if (!this.collectOnce()) return;
    }
  }

  private allObjects(): { ref: ResourceType; obj: JsonObject }[] {
    const result: { ref: ResourceType; obj: JsonObject }[] = [];
    for (const type of this.registry.all()) for (const obj of this.bucket(type).values()) result.push({ ref: type, obj });
    return result;
  }

  private collectOnce(): boolean {
    const everything = this.allObjects();
    const byUid = new Map<string, JsonObject>();
    for (const { obj } of everything) byUid.set(stringAt(metadataOf(obj), 'uid') ?? '', obj);
    const referenced = new Set<string>();
    let changed = false;
    for (const { ref, obj } of everything) {
      if (this.find(ref, namespaceOf(obj), nameOf(obj)) !== obj) continue;
      const owners = (arrayAt(metadataOf(obj), 'ownerReferences') ?? []).filter(isObject);
      if (owners.length === 0) continue;
      const ownerOf = (owner: JsonObject): JsonObject | undefined => byUid.get(stringAt(owner, 'uid') ?? '');
      const present = owners.filter((owner) => ownerOf(owner) !== undefined);
      const orphaning = (owner: JsonObject): boolean => {
        const ownerObject = ownerOf(owner);
        return ownerObject !== undefined && isDeleting(ownerObject) && finalizersOf(ownerObject).includes('orphan');
      };
      const remaining = present.filter((owner) => !orphaning(owner));
      for (const owner of remaining) referenced.add(stringAt(owner, 'uid') ?? '');
      const foreground = remaining.some((owner) => {
        const ownerObject = ownerOf(owner);
        return ownerObject !== undefined && isDeleting(ownerObject) && finalizersOf(ownerObject).includes('foregroundDeletion');
      });
      if ((present.length === 0 || foreground) && !isDeleting(obj)) {
        this.delete(ref, namespaceOf(obj), nameOf(obj), { propagationPolicy: 'Background' });
        changed = true;
      } else if (present.length > 0 && remaining.length < owners.length) {
        const next = clone(obj);
        if (remaining.length > 0) metadataOf(next)['ownerReferences'] = remaining;
        else removeKey(metadataOf(next), 'ownerReferences');
        this.commitUpdate(ref, ref, obj, next);
        changed = true;
      }
    }
    for (const { ref, obj } of everything) {
      if (this.finishDeletion(ref, obj, referenced)) changed = true;
    }
    return changed;
  }

  /** Removes the GC finalizers of an owner whose dependents are handled, and empties terminating namespaces. */
  private finishDeletion(ref: ResourceType, obj: JsonObject, referenced: ReadonlySet<string>): boolean {
    if (!isDeleting(obj) || this.find(ref, namespaceOf(obj), nameOf(obj)) !== obj) return false;
    if (ref.group === '' && ref.plural === 'namespaces') return this.emptyNamespace(ref, obj);
    const finalizers = finalizersOf(obj);
    const uid = stringAt(metadataOf(obj), 'uid') ?? '';
    const remaining = finalizers.filter((finalizer) => {
      if (finalizer === 'orphan') return false;
      if (finalizer === 'foregroundDeletion') return referenced.has(uid);
      return true;
    });
    if (remaining.length === finalizers.length) return false;
    const next = clone(obj);
    metadataOf(next)['finalizers'] = remaining;
    if (remaining.length === 0) delete metadataOf(next)['finalizers'];
    this.commitUpdate(ref, ref, obj, next);
    return true;
  }

  private emptyNamespace(ref: ResourceType, namespaceObject: JsonObject): boolean {
    const namespace = nameOf(namespaceObject);
    let changed = false;
    for (const type of this.registry.all()) {
      if (!type.namespaced) continue;
      for (const item of [...this.bucket(type).values()]) {
        if (namespaceOf(item) !== namespace || isDeleting(item)) continue;
        this.delete(type, namespace, nameOf(item), { propagationPolicy: 'Background' });
        changed = true;
      }
    }
    if (!this.hasContent(ref, namespaceObject) && finalizersOf(namespaceObject).length === 0) {
      this.remove(ref, namespaceObject);
      changed = true;
    }
    return changed;
  }
}
