/**
 * The one place the gRPC services report finished requests to metrics. It is a tiny
 * dependency-free hook (no prom-client here) so the RPC layer can call it without depending on
 * the metrics registry: the node's metrics install an observer when they start, and when none is
 * installed (metrics disabled, unit tests) a request costs one `undefined` check.
 *
 * One observer per process: a data node is one process. Tests that run several nodes in one
 * process see every node's requests in whichever node's metrics were installed last.
 */

/** Receives every finished unary request. `path` is the gRPC method path (`/pkg.Service/Method`). */
export interface RequestObserver {
  /** `result` is 'ok', an expected failure's code (PH_*), or 'internal'. */
  requestFinished(path: string, result: string, seconds: number): void;
}

let installed: RequestObserver | undefined;

/** Installs `observer` (replacing any other) and returns a function that removes it again. */
export function installRequestObserver(observer: RequestObserver): () => void {
  installed = observer;
  return () => {
    if (installed === observer) installed = undefined;
  };
}

/** The installed observer, or undefined when metrics are off. */
export function requestObserver(): RequestObserver | undefined {
  return installed;
}
