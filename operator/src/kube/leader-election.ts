/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection:
 *
 * - A candidate takes the Lease when it is free (no holder) or expired. Expiry is judged by this
 *   process's own clock from when it last saw the record change (never by comparing the holder's
 *   renewTime with our clock, which would trust clocks of two machines to agree).
 * - The leader renews every `retryPeriodMs`. If no renewal succeeded for `renewDeadlineMs` (API
 *   unreachable, or someone else holds the Lease) it stops leading at once: `onStoppedLeading`
 *   runs and the caller must stop reconciling. `renewDeadlineMs` < `leaseDurationMs`, so it
 *   stops before any other candidate may take over.
 * - `stop()` releases the Lease (empties the holder) so a standby takes over without waiting.
 *
 * Writes use the Lease's resourceVersion: two candidates racing for it cannot both win.
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { sleep, systemClock, type Clock } from './clock.ts';
import { isConflict, isNotFound } from './errors.ts';

export interface LeaderElectionOptions {
  readonly api: CoordinationV1Api;
  readonly namespace: string;
  readonly leaseName: string;
  /** This candidate's identity (its pod name plus something unique per process). */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly clock?: Clock;
  /** Called when this candidate becomes leader; `signal` aborts when it stops leading. */
  readonly onStartedLeading: (signal: AbortSignal) => void;
  readonly onStoppedLeading: () => void;
  readonly onNewLeader?: (identity: string) => void;
  readonly log?: (message: string) => void;
}

interface Observed {
  readonly record: string;
  readonly atMs: number;
}

const micro = (ms: number): Date => new Date(ms);

export class LeaderElector {
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed: Observed | undefined;
  private lastKnownHolder = '';
  private leading = false;
  private leadership: AbortController | undefined;
  private readonly stopController = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.clock = options.clock ?? systemClock;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new RangeError('renewDeadlineMs must be below leaseDurationMs');
    if (!(this.retryPeriodMs < this.renewDeadlineMs)) throw new RangeError('retryPeriodMs must be below renewDeadlineMs');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Runs the election in the background until `stop()`. */
  start(): void {
    this.running ??= this.loop();
  }

  /**
   * Stops campaigning. When leading and `release` is true (the default), empties the Lease so a
   * standby takes over at once; `release: false` behaves like a crash (the Lease just expires).
   */
  async stop(options: { readonly release?: boolean } = {}): Promise<void> {
    this.stopController.abort();
    await this.running;
    const wasLeading = this.leading;
    this.loseLeadership();
    if (wasLeading && options.release !== false) await this.release();
  }

  private async loop(): Promise<void> {
    const stopSignal = this.stopController.signal;
    while (!stopSignal.aborted) {
      // Candidate: try until the Lease is ours.
      while (!stopSignal.aborted && !(await this.tryAcquireOrRenew())) await sleep(this.clock, this.retryPeriodMs, stopSignal);
      if (stopSignal.aborted) return;
      this.leading = true;
      this.leadership = new AbortController();
      this.options.log?.(`${this.options.identity} became leader of lease ${this.options.namespace}/${this.options.leaseName}`);
      this.options.onStartedLeading(this.leadership.signal);
      // Leader: renew until a renewal deadline passes without success.
      let lastRenewMs = this.clock.nowMs();
      while (!stopSignal.aborted) {
        await sleep(this.clock, this.retryPeriodMs, stopSignal);
        if (stopSignal.aborted) return;
        if (await this.tryAcquireOrRenew()) {
          lastRenewMs = this.clock.nowMs();
        } else if (this.clock.nowMs() - lastRenewMs >= this.renewDeadlineMs || (this.lastKnownHolder !== this.options.identity && this.lastKnownHolder !== '')) {
          this.options.log?.(`${this.options.identity} lost lease ${this.options.namespace}/${this.options.leaseName}`);
          this.loseLeadership();
          break;
        }
      }
    }
  }

  private loseLeadership(): void {
    if (!this.leading) return;
    this.leading = false;
    this.leadership?.abort();
    this.leadership = undefined;
    this.options.onStoppedLeading();
  }

  /**
   * One attempt to take or keep the Lease; true when this candidate holds it afterwards.
   * Exposed for tests that drive the election step by step with a manual clock.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, leaseName, identity } = this.options;
    const nowMs = this.clock.nowMs();
    const durationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name: leaseName, namespace });
    } catch (error) {
      if (!isNotFound(error)) return this.failed(error);
      try {
        await api.createNamespacedLease({
          namespace,
          body: { metadata: { name: leaseName, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: micro(nowMs), renewTime: micro(nowMs), leaseTransitions: 0 } },
        });
        this.observe(identity, String(nowMs), nowMs);
        return true;
      } catch (createError) {
        return this.failed(createError);
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${spec.renewTime === undefined ? '' : new Date(spec.renewTime).getTime()}|${spec.leaseTransitions ?? 0}`;
    if (this.observed?.record !== record) this.observe(holder, record, nowMs);
    const observedAtMs = this.observed?.atMs ?? nowMs;
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && observedAtMs + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 > nowMs) return false;
    const next: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: micro(nowMs),
        acquireTime: holder === identity && spec.acquireTime !== undefined ? spec.acquireTime : micro(nowMs),
        leaseTransitions: holder === identity ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const written = await api.replaceNamespacedLease({ name: leaseName, namespace, body: next });
      const writtenSpec = written.spec ?? {};
      this.observe(identity, `${identity}|${writtenSpec.renewTime === undefined ? '' : new Date(writtenSpec.renewTime).getTime()}|${writtenSpec.leaseTransitions ?? 0}`, nowMs);
      return true;
    } catch (error) {
      return this.failed(error);
    }
  }

  private observe(holder: string, record: string, atMs: number): void {
    this.observed = { record, atMs };
    if (holder !== this.lastKnownHolder) {
      this.lastKnownHolder = holder;
      if (holder !== '') this.options.onNewLeader?.(holder);
    }
  }

  private failed(error: unknown): false {
    if (!isConflict(error)) this.options.log?.(`lease ${this.options.namespace}/${this.options.leaseName}: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }

  private async release(): Promise<void> {
    const { api, namespace, leaseName, identity } = this.options;
    try {
      const lease = await api.readNamespacedLease({ name: leaseName, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const nowMs = this.clock.nowMs();
      await api.replaceNamespacedLease({ name: leaseName, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(nowMs) } } });
    } catch (error) {
      this.failed(error);
    }
  }
}
