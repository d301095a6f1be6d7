/**
 * Watch streams over HTTP: newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK,
 * ERROR) from a resourceVersion, replayed from the store's bounded history, then live. An object
 * that stops (starts) matching the selectors is sent as DELETED (ADDED), as the real server does.
 */
import type { ServerResponse } from 'node:http';
import { KubeApiError, statusBody } from './errors.ts';
import { clone, type JsonObject } from './json.ts';
import { apiVersionOf, type ResourceType, type ServedVersion } from './resources.ts';
import type { ObjectPredicate } from './selectors.ts';
import type { KubeStore, StoreEvent } from './store.ts';

export interface WatchRequest {
  readonly type: ResourceType;
  readonly version: ServedVersion;
  /** Undefined watches every namespace. */
  readonly namespace: string | undefined;
  readonly matches: ObjectPredicate;
  /** Undefined, '' or '0': start with synthetic ADDED events for every current object. */
  readonly resourceVersion: string | undefined;
  readonly timeoutSeconds: number | undefined;
  readonly allowBookmarks: boolean;
  /** Renders each event's object, e.g. as a one-row Table for `kubectl get --watch`; identity when absent. */
  readonly render?: (object: JsonObject) => JsonObject;
}

/** One open watch connection. */
export interface WatchConnection {
  readonly request: WatchRequest;
  /** Sends a BOOKMARK with the store's current resourceVersion (only when bookmarks were asked for). */
  bookmark(): void;
  /** Ends the stream: gracefully (the client sees a clean end) or by destroying the socket. */
  close(abrupt: boolean): void;
}

export interface WatchRegistry {
  add(connection: WatchConnection): void;
  remove(connection: WatchConnection): void;
}

function served(object: JsonObject, request: WatchRequest): JsonObject {
  const copy = clone(object);
  copy['apiVersion'] = apiVersionOf(request.type.group, request.version.name);
  return copy;
}

function inScope(object: JsonObject, request: WatchRequest): boolean {
  if (request.namespace !== undefined) {
    const metadata = object['metadata'];
    const namespace = typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? metadata['namespace'] : undefined;
    if (namespace !== request.namespace) return false;
  }
  return request.matches(object);
}

/** Translates a store event into the event this watcher sees, given its selectors. */
function translate(event: StoreEvent, request: WatchRequest): { type: string; object: JsonObject } | undefined {
  const nowMatches = inScope(event.object, request);
  const wasMatching = event.oldObject !== undefined && inScope(event.oldObject, request);
  switch (event.type) {
    case 'ADDED':
      return nowMatches ? { type: 'ADDED', object: event.object } : undefined;
    case 'DELETED':
      return nowMatches || wasMatching ? { type: 'DELETED', object: event.object } : undefined;
    case 'MODIFIED':
      if (nowMatches && wasMatching) return { type: 'MODIFIED', object: event.object };
      if (nowMatches) return { type: 'ADDED', object: event.object };
      if (wasMatching) return { type: 'DELETED', object: event.object };
      return undefined;
  }
}

function initialEvents(store: KubeStore, request: WatchRequest): StoreEvent[] {
  const items = store.list(request.type, request.namespace);
  const revision = Number(store.resourceVersion());
  return items.map((object) => ({ type: 'ADDED', ref: request.type, resourceVersion: revision, object }));
}

/**
 * Serves a watch on `response` until the client goes away, the timeout passes, or the registry
 * closes it. A resourceVersion older than the history answers with an ERROR event (410 Expired).
 */
export function serveWatch(store: KubeStore, request: WatchRequest, response: ServerResponse, registry: WatchRegistry): void {
  response.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  response.flushHeaders();
  const send = (type: string, object: JsonObject): void => {
    if (!response.writableEnded && !response.destroyed) response.write(`${JSON.stringify({ type, object })}\n`);
  };
  let backlog: StoreEvent[];
  const fromVersion = request.resourceVersion;
  try {
    if (fromVersion === undefined || fromVersion === '' || fromVersion === '0') backlog = initialEvents(store, request);
    else if (!/^\d+$/.test(fromVersion)) throw new KubeApiError('BadRequest', `invalid resource version "${fromVersion}"`);
    else backlog = store.eventsSince(request.type, Number(fromVersion));
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error;
    send('ERROR', statusBody(error));
    response.end();
    return;
  }
  const deliver = (event: StoreEvent): void => {
    const translated = translate(event, request);
    if (translated === undefined) return;
    const object = served(translated.object, request);
    send(translated.type, request.render === undefined ? object : request.render(object));
  };
  for (const event of backlog) deliver(event);
  const unsubscribe = store.subscribe(request.type, deliver);
  let timer: NodeJS.Timeout | undefined;
  const connection: WatchConnection = {
    request,
    bookmark: () => {
      if (!request.allowBookmarks) return;
      const metadata = { resourceVersion: store.resourceVersion() };
      send('BOOKMARK', { kind: request.type.kind, apiVersion: apiVersionOf(request.type.group, request.version.name), metadata });
    },
    close: (abrupt) => {
      if (abrupt) response.destroy();
      else response.end();
    },
  };
  const finish = (): void => {
    unsubscribe();
    if (timer !== undefined) clearTimeout(timer);
    registry.remove(connection);
  };
  registry.add(connection);
  response.on('close', finish);
  if (request.timeoutSeconds !== undefined && request.timeoutSeconds > 0) {
    timer = setTimeout(() => response.end(), request.timeoutSeconds * 1000);
  }
}
