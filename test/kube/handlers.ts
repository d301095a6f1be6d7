/**
 * HTTP handlers of resource paths: list/watch/create/deletecollection on collections and
 * get/update/patch/delete on objects and their `status` and `scale` subresources.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, KubeApiError, notFound } from './errors.ts';
import { clone, getPath, isObject, parseJson, setPath, stringAt, childObject, type JsonObject, type JsonValue } from './json.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, patchTypeOf } from './patch.ts';
import { apiVersionOf, type ResourceType, type ServedVersion } from './resources.ts';
import { labelSelectorToString, parseFieldSelector, parseLabelSelector, type ObjectPredicate } from './selectors.ts';
import { metadataOf, type Clock, type KubeStore, type PropagationPolicy } from './store.ts';
import { toTable, wantsTable, type IncludeObject } from './table.ts';
import { serveWatch, type WatchRegistry } from './watch.ts';

export interface ResourcePath {
  readonly group: string;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly plural: string;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

export interface HandlerContext {
  readonly store: KubeStore;
  readonly clock: Clock;
  readonly watches: WatchRegistry;
}

interface Target {
  readonly type: ResourceType;
  readonly version: ServedVersion;
  readonly namespace: string;
  readonly path: ResourcePath;
  readonly query: URLSearchParams;
  readonly dryRun: boolean;
}

const listLimitMax = 10_000;

function send(response: ServerResponse, code: number, body: JsonValue, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function served(obj: JsonObject, target: Target): JsonObject {
  obj['apiVersion'] = apiVersionOf(target.type.group, target.version.name);
  return obj;
}

function parseBody(text: string): JsonObject {
  const value = parseJson(text);
  if (!isObject(value)) throw badRequest('the request body must be a JSON object');
  return value;
}

function resolveTarget(context: HandlerContext, path: ResourcePath, url: URL): Target {
  const found = context.store.registry.lookup(path.group, path.version, path.plural);
  if (found === undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  if (!found.type.namespaced && path.namespace !== undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  if (path.subresource !== undefined) {
    const supported = (path.subresource === 'status' && found.version.statusSubresource) || (path.subresource === 'scale' && found.version.scale !== undefined);
    if (!supported) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  }
  return {
    type: found.type,
    version: found.version,
    namespace: path.namespace ?? '',
    path,
    query: url.searchParams,
    dryRun: url.searchParams.getAll('dryRun').includes('All'),
  };
}

/** Dispatches one request on a resource path. Synchronous except for watches, which stay open. */
export function handleResource(context: HandlerContext, request: IncomingMessage, response: ServerResponse, url: URL, path: ResourcePath, body: string): void {
  const target = resolveTarget(context, path, url);
  const method = request.method ?? 'GET';
  if (path.name === undefined) {
    handleCollection(context, request, response, target, method, body);
    return;
  }
  if (target.type.namespaced && path.namespace === undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  const name = path.name;
  switch (method) {
    case 'GET':
      sendObject(context, request, response, target, target.path.subresource === 'scale' ? toScale(target, context.store.get(target.type, target.namespace, name)) : context.store.get(target.type, target.namespace, name));
      return;
    case 'PUT':
      send(response, 200, updateObject(context, target, name, parseBody(body)));
      return;
    case 'PATCH':
      sendPatch(context, request, response, target, name, body);
      return;
    case 'DELETE':
      deleteObject(context, response, target, name, body);
      return;
    default:
      throw new KubeApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }
}

function sendObject(context: HandlerContext, request: IncomingMessage, response: ServerResponse, target: Target, obj: JsonObject): void {
  const object = target.path.subresource === 'scale' ? obj : served(obj, target);
  if (wantsTable(request.headers.accept) && target.path.subresource === undefined) {
    const table = toTable(target.type, target.version, [object], includeObjectOf(target.query), { resourceVersion: stringAt(metadataOf(object), 'resourceVersion') ?? '' }, context.clock.now());
    send(response, 200, table, 'application/json;as=Table;v=v1;g=meta.k8s.io');
    return;
  }
  send(response, 200, object);
}

function includeObjectOf(query: URLSearchParams): IncludeObject {
  const value = query.get('includeObject');
  return value === 'None' || value === 'Object' ? value : 'Metadata';
}

function selectorsOf(query: URLSearchParams): ObjectPredicate {
  const labels = parseLabelSelector(query.get('labelSelector') ?? undefined);
  const fields = parseFieldSelector(query.get('fieldSelector') ?? undefined);
  return (obj) => labels(obj) && fields(obj);
}

function handleCollection(context: HandlerContext, request: IncomingMessage, response: ServerResponse, target: Target, method: string, body: string): void {
  const namespace = target.type.namespaced ? target.path.namespace : undefined;
  switch (method) {
    case 'GET': {
      const watch = target.query.get('watch');
      if (watch === '1' || watch === 'true') {
        const timeout = target.query.get('timeoutSeconds');
        serveWatch(
          context.store,
          {
            type: target.type,
            version: target.version,
            namespace,
            matches: selectorsOf(target.query),
            resourceVersion: target.query.get('resourceVersion') ?? undefined,
            timeoutSeconds: timeout === null ? undefined : Number(timeout),
            allowBookmarks: target.query.get('allowWatchBookmarks') === 'true',
            ...(wantsTable(request.headers.accept)
              ? { render: (obj: JsonObject) => toTable(target.type, target.version, [obj], includeObjectOf(target.query), {}, context.clock.now()) }
              : {}),
          },
          response,
          context.watches,
        );
        return;
      }
      sendList(context, request, response, target, namespace);
      return;
    }
    case 'POST': {
      if (target.type.namespaced && namespace === undefined) throw new KubeApiError('MethodNotAllowed', 'create requires a namespace in the path');
      const created = context.store.create(target.type, target.namespace, parseBody(body), { dryRun: target.dryRun });
      send(response, 201, served(created, target));
      return;
    }
    case 'DELETE': {
      const matches = selectorsOf(target.query);
      const items = context.store.list(target.type, namespace).filter(matches);
      const options = deleteOptionsOf(target, body);
      const results = items.map((item) => context.store.delete(target.type, stringAt(metadataOf(item), 'namespace') ?? '', stringAt(metadataOf(item), 'name') ?? '', options).object);
      send(response, 200, { kind: target.type.listKind, apiVersion: apiVersionOf(target.type.group, target.version.name), metadata: { resourceVersion: context.store.resourceVersion() }, items: results.map((item) => served(item, target)) });
      return;
    }
    default:
      throw new KubeApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }
}

interface ContinueToken {
  readonly after: string;
}

function keyOf(obj: JsonObject): string {
  const metadata = metadataOf(obj);
  return `${stringAt(metadata, 'namespace') ?? ''}/${stringAt(metadata, 'name') ?? ''}`;
}

function decodeContinue(token: string | null): ContinueToken | undefined {
  if (token === null || token === '') return undefined;
  const decoded = parseJson(Buffer.from(token, 'base64url').toString('utf8'));
  if (!isObject(decoded) || typeof decoded['after'] !== 'string') throw badRequest('invalid continue token');
  return { after: decoded['after'] };
}

/** Lists with selectors and `limit`/`continue` paging (pages are read from the current state). */
function sendList(context: HandlerContext, request: IncomingMessage, response: ServerResponse, target: Target, namespace: string | undefined): void {
  const matches = selectorsOf(target.query);
  const resourceVersion = context.store.resourceVersion();
  let items = context.store.list(target.type, namespace).filter(matches);
  const token = decodeContinue(target.query.get('continue'));
  if (token !== undefined) items = items.filter((item) => keyOf(item) > token.after);
  const limitText = target.query.get('limit');
  const limit = limitText === null ? 0 : Math.min(Number(limitText), listLimitMax);
  const metadata: JsonObject = { resourceVersion };
  if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
    const last = items[limit - 1];
    metadata['remainingItemCount'] = items.length - limit;
    items = items.slice(0, limit);
    if (last !== undefined) metadata['continue'] = Buffer.from(JSON.stringify({ after: keyOf(last) }), 'utf8').toString('base64url');
  }
  const servedItems = items.map((item) => served(item, target));
  if (wantsTable(request.headers.accept)) {
    send(response, 200, toTable(target.type, target.version, servedItems, includeObjectOf(target.query), metadata, context.clock.now()), 'application/json;as=Table;v=v1;g=meta.k8s.io');
    return;
  }
  send(response, 200, { kind: target.type.listKind, apiVersion: apiVersionOf(target.type.group, target.version.name), metadata, items: servedItems });
}

/** The autoscaling/v1 Scale view of an object. */
function toScale(target: Target, obj: JsonObject): JsonObject {
  const scale = target.version.scale;
  if (scale === undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  const metadata = metadataOf(obj);
  const specReplicas = getPath(obj, scale.specReplicasPath);
  const statusReplicas = getPath(obj, scale.statusReplicasPath);
  const selectorValue = scale.labelSelectorPath === undefined ? undefined : getPath(obj, scale.labelSelectorPath);
  const selector = typeof selectorValue === 'string' ? selectorValue : isObject(selectorValue) ? labelSelectorToString(selectorValue) : '';
  const scaleMetadata: JsonObject = {};
  for (const field of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp']) {
    const value = metadata[field];
    if (value !== undefined) scaleMetadata[field] = value;
  }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: scaleMetadata,
    spec: { replicas: typeof specReplicas === 'number' ? specReplicas : 0 },
    status: { replicas: typeof statusReplicas === 'number' ? statusReplicas : 0, selector },
  };
}

/** Writes a Scale's `spec.replicas` into the object (keeping the Scale's resourceVersion as precondition). */
function updateScale(context: HandlerContext, target: Target, name: string, scaleBody: JsonObject): JsonObject {
  const scale = target.version.scale;
  if (scale === undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  const replicas = getPath(scaleBody, '.spec.replicas');
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new KubeApiError('Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`, {
      name,
      group: 'autoscaling',
      kind: 'Scale',
      causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0` }],
    });
  }
  const current = context.store.get(target.type, target.namespace, name);
  const next = clone(current);
  const expected = stringAt(childObject(scaleBody, 'metadata'), 'resourceVersion');
  metadataOf(next)['resourceVersion'] = expected ?? stringAt(metadataOf(current), 'resourceVersion') ?? '';
  setPath(next, scale.specReplicasPath, replicas);
  const updated = context.store.update(target.type, target.namespace, name, next, { dryRun: target.dryRun });
  return toScale(target, updated);
}

function updateObject(context: HandlerContext, target: Target, name: string, body: JsonObject): JsonObject {
  if (target.path.subresource === 'scale') return updateScale(context, target, name, body);
  const subresource = target.path.subresource === 'status' ? 'status' : undefined;
  const updated = context.store.update(target.type, target.namespace, name, body, { dryRun: target.dryRun, ...(subresource === undefined ? {} : { subresource }) });
  return served(updated, target);
}

function applyPatch(kind: 'merge' | 'json' | 'strategic', current: JsonObject, patch: JsonValue): JsonObject {
  const patched = kind === 'merge' ? applyMergePatch(current, patch) : kind === 'json' ? applyJsonPatch(current, patch) : applyStrategicMergePatch(current, patch);
  if (!isObject(patched)) throw badRequest('the patch did not produce an object');
  return patched;
}

function sendPatch(context: HandlerContext, request: IncomingMessage, response: ServerResponse, target: Target, name: string, body: string): void {
  const patchType = patchTypeOf(request.headers['content-type']);
  if (patchType === undefined) {
    throw new KubeApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
  }
  const patch = parseJson(body);
  if (patch === undefined) throw badRequest('the patch body is not valid JSON');
  if (patchType === 'strategic' && target.type.custom) {
    throw new KubeApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
  }
  if (patchType === 'apply') {
    send(response, 200, applyObject(context, target, name, patch));
    return;
  }
  const current = served(context.store.get(target.type, target.namespace, name), target);
  const base = target.path.subresource === 'scale' ? toScale(target, current) : current;
  const patched = applyPatch(patchType, base, patch);
  send(response, 200, updateObject(context, target, name, patched));
}

/**
 * A simplified server-side apply (JSON bodies only): the applied configuration is merged into
 * the live object like a merge patch, or created when absent. Field ownership is not tracked.
 */
function applyObject(context: HandlerContext, target: Target, name: string, patch: JsonValue): JsonObject {
  if (!isObject(patch)) throw badRequest('an apply patch must be an object');
  let current: JsonObject | undefined;
  try {
    current = context.store.get(target.type, target.namespace, name);
  } catch (error) {
    if (!(error instanceof KubeApiError) || error.code !== 404) throw error;
  }
  if (current === undefined) {
    if (target.path.subresource !== undefined) throw notFound(target.type.group, target.type.plural, name);
    const body = clone(patch);
    metadataOf(body)['name'] = name;
    return served(context.store.create(target.type, target.namespace, body, { dryRun: target.dryRun }), target);
  }
  const base = target.path.subresource === 'scale' ? toScale(target, current) : current;
  return updateObject(context, target, name, applyPatch('merge', base, patch));
}

function propagationOf(value: JsonValue | string | null | undefined): PropagationPolicy | undefined {
  if (value === 'Foreground' || value === 'Background' || value === 'Orphan') return value;
  if (value === null || value === undefined || value === '') return undefined;
  throw badRequest(`unsupported propagationPolicy ${JSON.stringify(value)}`);
}

function deleteOptionsOf(target: Target, body: string): { propagationPolicy?: PropagationPolicy; preconditions?: { uid?: string; resourceVersion?: string }; dryRun: boolean } {
  const options = body.trim() === '' ? {} : parseBody(body);
  const fromQuery = propagationOf(target.query.get('propagationPolicy'));
  const fromBody = propagationOf(options['propagationPolicy']);
  const orphan = options['orphanDependents'] === true || target.query.get('orphanDependents') === 'true' ? 'Orphan' : undefined;
  const policy = fromBody ?? fromQuery ?? orphan;
  const preconditionsBody = childObject(options, 'preconditions');
  const uid = stringAt(preconditionsBody, 'uid');
  const resourceVersion = stringAt(preconditionsBody, 'resourceVersion');
  const dryRun = Array.isArray(options['dryRun']) ? options['dryRun'].includes('All') : false;
  return {
    dryRun: dryRun || target.dryRun,
    ...(policy === undefined ? {} : { propagationPolicy: policy }),
    preconditions: { ...(uid === undefined ? {} : { uid }), ...(resourceVersion === undefined ? {} : { resourceVersion }) },
  };
}

function deleteObject(context: HandlerContext, response: ServerResponse, target: Target, name: string, body: string): void {
  if (target.path.subresource !== undefined) throw new KubeApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const result = context.store.delete(target.type, target.namespace, name, deleteOptionsOf(target, body));
  if (!result.deleted) {
    send(response, 200, served(result.object, target));
    return;
  }
  const uid = stringAt(metadataOf(result.object), 'uid') ?? '';
  const status: JsonObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: target.type.group, kind: target.type.plural, uid } };
  send(response, 200, status);
}

