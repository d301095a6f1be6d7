/**
 * Records the history of concurrent client operations for the linearizability checker. Cluster
 * tests call `invoke` just before sending a request and `ok`, `fail` or `unknown` once they know
 * its fate; the clock is injected so that simulations can use their own time.
 */
import { assert } from '../../datanode/src/assert.ts';
import type { ClientId, Operation } from './checker.ts';

export interface Clock {
  nowMs(): number;
}

/** A clock that advances by one on every reading: every event gets its own instant, in order. */
export function counterClock(start = 0): Clock {
  let next = start;
  return { nowMs: () => next++ };
}

/** Identifies one invocation; returned by `invoke`, passed back to complete it. */
export interface InvocationHandle {
  readonly invocationId: number;
}

type RecordState<O> =
  | { readonly kind: 'pending' }
  | { readonly kind: 'ok'; readonly output: O; readonly returnMs: number }
  | { readonly kind: 'failed' }
  | { readonly kind: 'unknown' };

interface InvocationRecord<I, O> {
  readonly clientId: ClientId;
  readonly input: I;
  readonly callMs: number;
  state: RecordState<O>;
}

export interface HistoryRecorderOptions {
  readonly clock?: Clock;
  /** Invocations recorded at most; a runaway test fails instead of exhausting memory. */
  readonly invocationsMax?: number;
}

const defaultInvocationsMax = 1_000_000;

/**
 * Builds a history. A client has at most one pending invocation (clients are sequential); after
 * `unknown` the client may invoke again, while its unknown operation stays concurrent with
 * everything that follows.
 */
export class HistoryRecorder<I, O> {
  private readonly clock: Clock;
  private readonly invocationsMax: number;
  private readonly records: InvocationRecord<I, O>[] = [];
  private readonly pendingByClient = new Map<ClientId, number>();
  private lastMs = -Infinity;

  constructor(options: HistoryRecorderOptions = {}) {
    this.clock = options.clock ?? counterClock();
    this.invocationsMax = options.invocationsMax ?? defaultInvocationsMax;
  }

  /** Number of invocations recorded so far. */
  get size(): number {
    return this.records.length;
  }

  /** Records that `clientId` is about to send `input`. */
  invoke(clientId: ClientId, input: I): InvocationHandle {
    assert(!this.pendingByClient.has(clientId), `client ${String(clientId)} already has a pending invocation`);
    assert(this.records.length < this.invocationsMax, 'history recorder is full');
    const invocationId = this.records.length;
    this.records.push({ clientId, input, callMs: this.readClock(), state: { kind: 'pending' } });
    this.pendingByClient.set(clientId, invocationId);
    return { invocationId };
  }

  /** The invocation completed and answered `output`. */
  ok(handle: InvocationHandle, output: O): void {
    const record = this.completing(handle);
    record.state = { kind: 'ok', output, returnMs: this.readClock() };
  }

  /** The invocation definitely did not take effect (for example, rejected before proposing). */
  fail(handle: InvocationHandle): void {
    this.completing(handle).state = { kind: 'failed' };
  }

  /** The outcome is unknown (timeout, crash): it may take effect at any time, or never. */
  unknown(handle: InvocationHandle): void {
    this.completing(handle).state = { kind: 'unknown' };
  }

  /**
   * The history so far, in invocation order. Failed invocations are left out; pending ones are
   * reported as unknown outcomes, since they may still take effect.
   */
  toOperations(): Operation<I, O>[] {
    const operations: Operation<I, O>[] = [];
    for (const record of this.records) {
      const common = { clientId: record.clientId, input: record.input, callMs: record.callMs };
      switch (record.state.kind) {
        case 'ok':
          operations.push({ ...common, returnMs: record.state.returnMs, outcome: { kind: 'ok', output: record.state.output } });
          break;
        case 'pending':
        case 'unknown':
          operations.push({ ...common, returnMs: Infinity, outcome: { kind: 'unknown' } });
          break;
        case 'failed':
          break;
      }
    }
    return operations;
  }

  private completing(handle: InvocationHandle): InvocationRecord<I, O> {
    const record = this.records[handle.invocationId];
    assert(record !== undefined, `unknown invocation ${handle.invocationId}`);
    assert(record.state.kind === 'pending', `invocation ${handle.invocationId} completed twice`);
    this.pendingByClient.delete(record.clientId);
    return record;
  }

  private readClock(): number {
    const nowMs = this.clock.nowMs();
    assert(Number.isFinite(nowMs), 'clock returned a non-finite time');
    assert(nowMs >= this.lastMs, 'clock went backwards');
    this.lastMs = nowMs;
    return nowMs;
  }
}
