/**
 * Kubernetes Events (core/v1) for the decisions a user should see (`kubectl describe pc x`).
 * Repeats of the same event (same object, type, reason and message) are folded into one Event
 * whose `count` and `lastTimestamp` grow, as client-go's recorder does, so a condition that holds
 * for an hour is one line, not a flood. The cache of recent events is bounded (LRU).
 * Recording never fails the caller: an event that cannot be written is logged and dropped.
 */
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type CoreV1Event, type V1ObjectReference } from '@kubernetes/client-node';
import { systemClock, type Clock } from './clock.ts';
import { isNotFound } from './errors.ts';

export type EventType = 'Normal' | 'Warning';

export interface InvolvedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
}

export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`, e.g. phantomdb-operator. */
  readonly component: string;
  /** `reportingInstance`: this operator replica (its pod name). */
  readonly instance: string;
  readonly clock?: Clock;
  readonly cacheEntriesMax?: number;
  readonly log?: (message: string) => void;
}

interface CachedEvent {
  readonly namespace: string;
  readonly name: string;
  count: number;
}

const messageLengthMax = 1024;

export class EventRecorder {
  private readonly clock: Clock;
  private readonly cacheEntriesMax: number;
  private readonly cache = new Map<string, CachedEvent>();
  private sequence = 0;

  constructor(
    private readonly core: CoreV1Api,
    private readonly options: EventRecorderOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.cacheEntriesMax = options.cacheEntriesMax ?? 4096;
  }

  async record(involved: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const text = message.length > messageLengthMax ? `${message.slice(0, messageLengthMax - 1)}…` : message;
    const key = [involved.namespace, involved.kind, involved.name, involved.uid ?? '', type, reason, text].join('\u0000');
    const now = new Date(this.clock.nowMs());
    try {
      const cached = this.cache.get(key);
      if (cached !== undefined) {
        this.cache.delete(key);
        this.cache.set(key, cached);
        if (await this.bump(cached, now)) return;
        this.cache.delete(key);
      }
      await this.create(key, involved, type, reason, text, now);
    } catch (error) {
      this.options.log?.(`event ${reason} on ${involved.namespace}/${involved.name} not recorded: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Increments an existing event; false when it is gone (expired by the API server's TTL). */
  private async bump(cached: CachedEvent, now: Date): Promise<boolean> {
    try {
      cached.count += 1;
      await this.core.patchNamespacedEvent(
        { name: cached.name, namespace: cached.namespace, body: { count: cached.count, lastTimestamp: now } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  private async create(key: string, involved: InvolvedObject, type: EventType, reason: string, message: string, now: Date): Promise<void> {
    this.sequence += 1;
    const name = `${involved.name}.${now.getTime().toString(16)}${this.sequence.toString(16).padStart(4, '0')}`;
    const involvedObject: V1ObjectReference = { apiVersion: involved.apiVersion, kind: involved.kind, namespace: involved.namespace, name: involved.name };
    if (involved.uid !== undefined) involvedObject.uid = involved.uid;
    const event: CoreV1Event = {
      metadata: { name, namespace: involved.namespace },
      involvedObject,
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.options.component },
      reportingComponent: this.options.component,
      reportingInstance: this.options.instance,
      action: reason,
    };
    await this.core.createNamespacedEvent({ namespace: involved.namespace, body: event });
    this.cache.set(key, { namespace: involved.namespace, name, count: 1 });
    while (this.cache.size > this.cacheEntriesMax) {
      const oldest = this.cache.keys().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value);
    }
  }
}
