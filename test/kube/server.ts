/**
 * A Kubernetes API test server over real HTTP on loopback: discovery, built-in kinds and CRDs,
 * get/list/watch/create/update/patch/delete, status and scale subresources, selectors, finalizers
 * and garbage collection — enough for `@kubernetes/client-node` and `kubectl --validate=false`.
 * Controllers (such as a StatefulSet "kubelet" that starts data node processes) plug in through
 * `hooks.registerController` and work on the in-process store.
 */
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiGroupDocument, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.ts';
import { badRequest, KubeApiError, statusBody } from './errors.ts';
import { type JsonObject, type JsonValue } from './json.ts';
import { handleResource, type ResourcePath } from './handlers.ts';
import { builtinResourceTypes, ResourceRegistry, type ResourceRef } from './resources.ts';
import { KubeStore, type Clock, type StoreEvent } from './store.ts';
import type { WatchConnection, WatchRegistry } from './watch.ts';

export interface KubeTestServerOptions {
  /** 0 (the default) picks an ephemeral port. */
  readonly port?: number;
  readonly host?: string;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Events kept for watches resuming from a resourceVersion (default 1,000). */
  readonly historyEventsMax?: number;
  /** Period of BOOKMARK events on watches that allow them (default 5,000 ms; 0 disables the timer). */
  readonly bookmarkIntervalMs?: number;
}

/** What a controller plugged into the server gets: the store itself, in process. */
export interface ControllerContext {
  readonly store: KubeStore;
  readonly clock: Clock;
  readonly url: string;
}

/**
 * A controller run by the server, e.g. the StatefulSet controller that creates and deletes Pods
 * and writes their status. It should subscribe to the store (`store.subscribe(ref, ...)`), only
 * enqueue keys in the listener, and reconcile from a queue of its own using `store.get/list/
 * create/update(..., { subresource: 'status' })/delete`. `stop` must end all of its work.
 */
export interface KubeTestController {
  readonly name: string;
  start(context: ControllerContext): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface KubeTestHooks {
  /** Calls `handler` synchronously after every committed change of `ref`; returns an unsubscribe function. */
  onChange(ref: ResourceRef, handler: (event: StoreEvent) => void): () => void;
  /** Ends every open watch (gracefully, or by destroying sockets when `abrupt`); returns how many. */
  dropWatches(options?: { readonly abrupt?: boolean }): number;
  /** Forgets the event history: watches from any older resourceVersion now get 410 Gone. */
  compactHistory(): void;
  /** Sends a BOOKMARK on every open watch that allows bookmarks. */
  sendBookmarks(): void;
  /** Number of open watch connections. */
  watchCount(): number;
  /** Starts a controller; it is stopped when the server closes. */
  registerController(controller: KubeTestController): Promise<void>;
  /** Runs owner-reference garbage collection now (it also runs after every change). */
  collectGarbage(): void;
}

export interface KubeTestServer {
  readonly url: string;
  readonly store: KubeStore;
  readonly hooks: KubeTestHooks;
  close(): Promise<void>;
}

const requestBodyBytesMax = 3 * 1024 * 1024;

class OpenWatches implements WatchRegistry {
  readonly connections = new Set<WatchConnection>();
  add(connection: WatchConnection): void {
    this.connections.add(connection);
  }
  remove(connection: WatchConnection): void {
    this.connections.delete(connection);
  }
}

export function sendJson(response: ServerResponse, code: number, body: JsonValue, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const apiError = error instanceof KubeApiError ? error : new KubeApiError('InternalError', error instanceof Error ? error.message : String(error));
  if (!(error instanceof KubeApiError)) process.stderr.write(`kube test server: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  sendJson(response, apiError.code, statusBody(apiError));
}

/** Reads a request body, refusing more than `requestBodyBytesMax`. */
export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buffer.length;
    if (total > requestBodyBytesMax) throw new KubeApiError('BadRequest', `request body larger than ${requestBodyBytesMax} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Splits `/api/v1/...` or `/apis/<group>/<version>/...` into a resource path, or undefined. */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const segments = pathname.split('/').filter((segment) => segment !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments.length >= 3) {
    group = '';
    version = segments[1] ?? '';
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 4) {
    group = segments[1] ?? '';
    version = segments[2] ?? '';
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  const isNamespaceSubresource = group === '' && rest[0] === 'namespaces' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize');
  if (rest[0] === 'namespaces' && rest.length >= 3 && !isNamespaceSubresource) {
    return { group, version, namespace: rest[1], plural: rest[2] ?? '', name: rest[3], subresource: rest[4] };
  }
  return { group, version, namespace: undefined, plural: rest[0] ?? '', name: rest[1], subresource: rest[2] };
}

/**
 * Only JSON bodies are understood. Protobuf and CBOR (sent by client-go's typed clients, e.g.
 * `kubectl create configmap`) are refused with 415, which makes client-go retry in JSON.
 */
function rejectBinaryBody(request: IncomingMessage): void {
  const contentType = (request.headers['content-type'] ?? '').toLowerCase();
  if (contentType.includes('protobuf') || contentType.includes('cbor')) {
    throw new KubeApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  }
}

function serveDiscovery(response: ServerResponse, registry: ResourceRegistry, pathname: string, serverAddress: string): boolean {
  const segments = pathname.split('/').filter((segment) => segment !== '');
  let body: JsonObject | undefined;
  if (pathname === '/version' || pathname === '/version/') body = versionInfo();
  else if (segments.length === 1 && segments[0] === 'api') body = apiVersions(serverAddress);
  else if (segments.length === 2 && segments[0] === 'api') body = apiResourceList(registry, '', segments[1] ?? '');
  else if (segments.length === 1 && segments[0] === 'apis') body = apiGroupList(registry);
  else if (segments.length === 2 && segments[0] === 'apis') body = apiGroupDocument(registry, segments[1] ?? '');
  else if (segments.length === 3 && segments[0] === 'apis') body = apiResourceList(registry, segments[1] ?? '', segments[2] ?? '');
  else if (['/healthz', '/readyz', '/livez'].includes(pathname)) {
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('ok');
    return true;
  } else return false;
  if (body === undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
  sendJson(response, 200, body);
  return true;
}

/**
 * Starts the server. `url` is `http://<host>:<port>`; `close()` ends watches, stops controllers
 * and closes the listener.
 */
export async function startKubeTestServer(options: KubeTestServerOptions = {}): Promise<KubeTestServer> {
  const clock = options.clock ?? { now: () => new Date() };
  const registry = new ResourceRegistry(builtinResourceTypes());
  const store = new KubeStore(registry, { clock, random: options.random ?? Math.random, historyEventsMax: options.historyEventsMax ?? 1000 });
  const watches = new OpenWatches();
  const controllers: KubeTestController[] = [];
  const host = options.host ?? '127.0.0.1';
  let serverAddress = host;
  const server: Server = createServer((request, response) => {
    void route(request, response).catch((error: unknown) => sendError(response, error));
  });
  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (serveDiscovery(response, registry, url.pathname, serverAddress)) return;
    const path = parseResourcePath(url.pathname);
    if (path === undefined) throw new KubeApiError('NotFound', 'the server could not find the requested resource');
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await readBody(request);
    rejectBinaryBody(request);
    handleResource({ store, clock, watches }, request, response, url, path, body);
  };
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  serverAddress = `${host}:${address.port}`;
  const url = `http://${serverAddress}`;
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 5000;
  const bookmarkTimer = bookmarkIntervalMs > 0 ? setInterval(() => hooks.sendBookmarks(), bookmarkIntervalMs) : undefined;
  bookmarkTimer?.unref();
  const hooks: KubeTestHooks = {
    onChange: (ref, handler) => store.subscribe(ref, handler),
    dropWatches: (dropOptions = {}) => {
      const open = [...watches.connections];
      for (const connection of open) connection.close(dropOptions.abrupt === true);
      return open.length;
    },
    compactHistory: () => store.compactHistory(),
    sendBookmarks: () => {
      for (const connection of watches.connections) connection.bookmark();
    },
    watchCount: () => watches.connections.size,
    registerController: async (controller) => {
      controllers.push(controller);
      await controller.start({ store, clock, url });
    },
    collectGarbage: () => store.collectGarbage(),
  };
  const close = async (): Promise<void> => {
    if (bookmarkTimer !== undefined) clearInterval(bookmarkTimer);
    for (const controller of controllers.splice(0).reverse()) await controller.stop();
    for (const connection of watches.connections) connection.close(false);
    store.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  return { url, store, hooks, close };
}

/** Writes a kubeconfig with one cluster, user and context (`phantomdb-test`) pointing at `url`. */
export async function writeKubeconfig(path: string, url: string): Promise<void> {
  if (!/^https?:\/\//.test(url)) throw badRequest(`not an http(s) URL: ${url}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'phantomdb-test', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'phantomdb-test', user: { token: 'phantomdb-test-token' } }],
    contexts: [{ name: 'phantomdb-test', context: { cluster: 'phantomdb-test', user: 'phantomdb-test', namespace: 'default' } }],
    'current-context': 'phantomdb-test',
    preferences: {},
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
