/**
 * The loop every controller runs: workers take keys from a rate-limited queue and reconcile them.
 * A reconcile that fails is retried with per-key backoff; one that asks to be requeued comes back
 * after its delay; a success forgets the key's failures. Handlers of informer events only call
 * `enqueue` (level-triggered: the reconcile re-reads the world).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../kube/clock.ts';
import type { RestartingInformer } from '../kube/informer.ts';
import { WorkQueue, type WorkQueueOptions } from '../kube/workqueue.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';

export interface ReconcileOutcome {
  /** Reconcile again after this long: work in progress (counted as result "requeue"). */
  readonly requeueAfterMs?: number;
  /** The key is settled; look again after this long anyway (counted as "success"). */
  readonly resyncAfterMs?: number;
}

export type Reconciler = (key: string, signal: AbortSignal) => Promise<ReconcileOutcome>;

export interface ControllerOptions {
  readonly name: string;
  readonly reconcile: Reconciler;
  readonly clock: Clock;
  readonly metrics?: OperatorMetrics;
  readonly workers?: number;
  readonly queue?: WorkQueueOptions;
  readonly log?: (message: string) => void;
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(private readonly options: ControllerOptions) {
    this.queue = new WorkQueue({ ...options.queue, clock: options.clock });
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.reportDepth();
  }

  start(): void {
    const count = this.options.workers ?? 2;
    for (let worker = 0; worker < count; worker++) this.workers.push(this.work());
  }

  /** Stops taking keys and waits for reconciles in flight (they see their signal aborted). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.queue.shutdown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  private reportDepth(): void {
    const stats = this.queue.stats();
    this.options.metrics?.setQueueDepth(this.options.name, stats.depth + stats.delayed);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.reportDepth();
      const startedMs = this.options.clock.nowMs();
      try {
        const outcome = await this.options.reconcile(key, this.abort.signal);
        this.queue.forget(key);
        const againMs = outcome.requeueAfterMs ?? outcome.resyncAfterMs;
        if (againMs !== undefined) this.queue.addAfter(key, againMs);
        this.options.metrics?.observeReconcile(this.options.name, outcome.requeueAfterMs === undefined ? 'success' : 'requeue', (this.options.clock.nowMs() - startedMs) / 1000);
      } catch (error) {
        this.options.log?.(`${this.options.name} ${key}: ${error instanceof Error ? error.message : String(error)}`);
        this.queue.addRateLimited(key);
        this.options.metrics?.observeReconcile(this.options.name, 'error', (this.options.clock.nowMs() - startedMs) / 1000);
      } finally {
        this.queue.done(key);
        this.reportDepth();
      }
    }
  }
}

/**
 * A controller fed by informers that all start together: start the informers (their first lists),
 * then the workers; stop the workers, then the informers. Subclasses set `controller` and push
 * their informers in their constructor.
 */
export abstract class InformerController {
  protected abstract readonly controller: Controller;
  protected readonly informers: RestartingInformer<KubernetesObject>[] = [];

  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()));
    this.controller.start();
  }

  get hasSynced(): boolean {
    return this.informers.every((informer) => informer.hasSynced);
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  get queue(): Controller['queue'] {
    return this.controller.queue;
  }
}
