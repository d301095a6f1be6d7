/**
 * An informer (list + watch + local cache) from @kubernetes/client-node that does not stay
 * stopped. client-node's ListWatch resumes by itself after a watch the server closes cleanly and
 * re-lists after 410 Gone, but any other failure (a list that fails, a connection reset, an API
 * server restart) ends it with an `error` callback and it never restarts. This wrapper restarts
 * it after a capped, jittered exponential backoff, and counts restarts for tests and metrics.
 *
 * Handlers must only enqueue keys (STYLE.md: no work in event callbacks).
 */
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { systemClock, type Clock } from './clock.ts';

export interface RestartingInformerOptions<T extends KubernetesObject> {
  readonly kubeConfig: KubeConfig;
  /** Collection path, e.g. `/apis/apps/v1/namespaces/ns/statefulsets`. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly restartBackoffInitialMs?: number;
  readonly restartBackoffMaxMs?: number;
  /** A run without errors this long resets the backoff. */
  readonly stableAfterMs?: number;
  readonly onError?: (error: unknown, restartInMs: number) => void;
}

type Handler<T> = (object: T) => void;

export class RestartingInformer<T extends KubernetesObject> {
  private readonly inner: Informer<T> & ObjectCache<T>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly stableAfterMs: number;
  private stopped = true;
  private failures = 0;
  private lastStartMs = 0;
  private cancelRestart: (() => void) | undefined;
  private syncedOnce = false;
  private readonly syncWaiters: (() => void)[] = [];
  private restartCount = 0;
  private listCount = 0;

  constructor(private readonly options: RestartingInformerOptions<T>) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoffInitialMs = options.restartBackoffInitialMs ?? 250;
    this.backoffMaxMs = options.restartBackoffMaxMs ?? 30_000;
    this.stableAfterMs = options.stableAfterMs ?? 60_000;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await options.list();
      this.listCount += 1;
      // ListWatch fills its cache synchronously right after this promise settles.
      setImmediate(() => this.markSynced());
      return result;
    };
    this.inner = makeInformer<T>(options.kubeConfig, options.path, list, options.labelSelector);
    this.inner.on('error', (error: unknown) => this.onError(error));
  }

  on(event: 'add' | 'update' | 'delete', handler: Handler<T>): void {
    this.inner.on(event, handler);
  }

  /** Starts listing and watching; resolves once the cache holds a first full list. */
  async start(): Promise<void> {
    if (!this.stopped) return this.waitForSync();
    this.stopped = false;
    this.lastStartMs = this.clock.nowMs();
    await this.inner.start();
    return this.waitForSync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRestart?.();
    this.cancelRestart = undefined;
    for (const waiter of this.syncWaiters.splice(0)) waiter();
    await this.inner.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.inner.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.inner.list(namespace);
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** Restarts after errors so far. */
  get restarts(): number {
    return this.restartCount;
  }

  /** Full lists so far (the first one, restarts and 410 re-lists). */
  get lists(): number {
    return this.listCount;
  }

  private waitForSync(): Promise<void> {
    if (this.syncedOnce || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private markSynced(): void {
    if (this.stopped) return;
    this.syncedOnce = true;
    for (const waiter of this.syncWaiters.splice(0)) waiter();
  }

  private onError(error: unknown): void {
    // Stopping aborts the watch, which reports an error too.
    if (this.stopped || this.cancelRestart !== undefined) return;
    if (this.clock.nowMs() - this.lastStartMs >= this.stableAfterMs) this.failures = 0;
    const capped = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(this.failures, 30));
    const delayMs = Math.round(capped * (0.5 + this.random() / 2));
    this.failures += 1;
    this.options.onError?.(error, delayMs);
    this.cancelRestart = this.clock.setTimer(delayMs, () => {
      this.cancelRestart = undefined;
      if (this.stopped) return;
      this.restartCount += 1;
      this.lastStartMs = this.clock.nowMs();
      this.inner.start().catch((error: unknown) => this.onError(error));
    });
  }
}
