/**
 * What the typed gRPC clients of the data node (KvClient, AdminClient) share: one stub per
 * endpoint, rotation over the endpoints and redirects to a named leader, and the retry loop that
 * gives a call an overall deadline, a deadline per attempt and capped exponential backoff.
 *
 * What differs between the APIs stays with them, through a RetryPolicy: which failures are safe
 * to retry (every admin call is idempotent; a KV write whose fate is unknown must not be resent)
 * and what a call throws once its attempts or its deadline are spent.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { assert } from '../assert.ts';
import type { RpcErrorFactory, RpcMetadataKeys } from './conventions.ts';

/**
 * One try of a call: sends the request on `stub` (the stub of `address`) and reports through
 * `done`; it may return the grpc-js call object (whose response headers are then read).
 */
export type Attempt<Stub, T> = (stub: Stub, metadata: grpc.Metadata, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, value?: T) => void, address: string) => unknown;

/** The limits of one call, retries included. */
export interface RetryBudget {
  /** Overall deadline of one call, unless the call names its own. */
  readonly deadlineMs: number;
  /** Deadline of one attempt (capped by what is left of the overall deadline). */
  readonly attemptDeadlineMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly attemptsMax: number;
}

/** What a client's caller sets; each client documents its own defaults of the budget. */
export interface RpcClientOptions {
  /** gRPC addresses (host:port) of some cluster members. */
  readonly endpoints: readonly string[];
  /** When set, nodes of another cluster refuse the calls (PH_WRONG_CLUSTER). */
  readonly clusterId?: string;
  /** Overall deadline of one call, retries included. */
  readonly deadlineMs?: number;
  /** Deadline of one attempt. */
  readonly attemptDeadlineMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Attempts per call at most. */
  readonly attemptsMax?: number;
}

/** The budget `options` set, each limit it leaves out taken from `defaults`. */
export function retryBudgetOf(options: RpcClientOptions, defaults: RetryBudget): RetryBudget {
  return {
    deadlineMs: options.deadlineMs ?? defaults.deadlineMs,
    attemptDeadlineMs: options.attemptDeadlineMs ?? defaults.attemptDeadlineMs,
    backoffInitialMs: options.backoffInitialMs ?? defaults.backoffInitialMs,
    backoffMaxMs: options.backoffMaxMs ?? defaults.backoffMaxMs,
    attemptsMax: options.attemptsMax ?? defaults.attemptsMax,
  };
}

/**
 * gRPC channel options of every client stub: reconnect soon after a node comes back; no channelz
 * (grpc-js's introspection service, which nothing here serves: with it on, every call also
 * updates call counters and allocates timestamps on the channel, the subchannel and the socket).
 */
export const reconnectChannelOptions = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000, 'grpc.enable_channelz': 0 } as const;

/** What a policy decided about a failed attempt. */
export interface Verdict<E extends Error> {
  /** The API's error for the attempt; the call throws it (or the policy's exhausted form of it). */
  readonly error: E;
  /** The leader a PH_NOT_LEADER answer named ('' otherwise); the next attempt goes there. */
  readonly leaderAddress: string;
  /**
   * `retry`: move on to the next endpoint, back off, try again. `fail`: throw `error` now.
   * `fail-after-moving-on`: throw `error` now, but let the next call start at the next endpoint.
   */
  readonly next: 'retry' | 'fail' | 'fail-after-moving-on';
}

/** An API's rules for one kind of call. */
export interface RetryPolicy<E extends Error> {
  judge(err: unknown): Verdict<E>;
  /** The error a call throws when no attempt was made (deadline or attempt budget already spent). */
  noAttemptError(): E;
  /** What a call throws once its attempts or deadline are spent, given the last attempt's error. */
  exhausted(lastError: E): E;
}

/** Which address an attempt goes to, and how the next attempt moves on. */
export interface Route {
  address(): string | undefined;
  /** After a failure: the next address. */
  moveOn(): void;
  /** Sends the next attempt to `leaderAddress`; false when this route does not follow redirects. */
  redirect(leaderAddress: string): boolean;
  /** Whether a `servedByKey` answer moves the client's preferred endpoint (calls that may go anywhere). */
  readonly followsServedBy?: boolean;
}

export interface RpcClientCoreOptions<Stub, E extends Error> {
  readonly endpoints: readonly string[];
  /** When set, sent with every attempt so that nodes of another cluster refuse it. */
  readonly clusterId: string | undefined;
  readonly metadataKeys: RpcMetadataKeys;
  readonly budget: RetryBudget;
  /** Opens the stub(s) of one address; `disconnect` closes them. */
  readonly connect: (address: string) => Stub;
  readonly disconnect: (stub: Stub) => void;
  readonly newError: RpcErrorFactory<E>;
  /**
   * A response header naming the node that served the call when the node asked forwarded it
   * (the KV API's `ph-served-by`): calls that may go anywhere go there next, when it is one of
   * the client's endpoints (an address the client was not given may not be reachable from it).
   */
  readonly servedByKey?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The endpoint set, stubs and retry loop of one client. Not shared between clients: it holds the
 * client's preferred endpoint (the last known leader).
 */
export class RpcClientCore<Stub, E extends Error> {
  private endpoints: string[];
  private current = 0;
  private readonly stubs = new Map<string, Stub>();
  private closed = false;
  /** The route of a call that may go to any endpoint: the preferred one, then round-robin, following redirects. */
  private readonly anyEndpoint: Route = {
    address: () => this.endpoints[this.current],
    moveOn: () => {
      this.current = (this.current + 1) % this.endpoints.length;
    },
    redirect: (leaderAddress) => {
      this.useLeader(leaderAddress);
      return true;
    },
    followsServedBy: true,
  };

  /** The caller checks that `endpoints` is not empty (and raises its own error when it is). */
  constructor(private readonly options: RpcClientCoreOptions<Stub, E>) {
    assert(options.endpoints.length > 0, 'an RPC client needs at least one endpoint');
    this.endpoints = [...options.endpoints];
  }

  /** Replaces the endpoints, keeping the preferred one and the stubs of those still named. */
  setEndpoints(endpoints: readonly string[]): void {
    assert(endpoints.length > 0, 'an RPC client needs at least one endpoint');
    const preferred = this.endpoints[this.current];
    this.endpoints = [...endpoints];
    const at = preferred === undefined ? -1 : this.endpoints.indexOf(preferred);
    this.current = at < 0 ? 0 : at;
    for (const [address, stub] of this.stubs) {
      if (!this.endpoints.includes(address)) {
        this.options.disconnect(stub);
        this.stubs.delete(address);
      }
    }
  }

  /** Closes every stub; later calls fail with PH_UNAVAILABLE. */
  close(): void {
    this.closed = true;
    for (const stub of this.stubs.values()) this.options.disconnect(stub);
    this.stubs.clear();
  }

  /** Whether `address` is one of the endpoints (given, or a leader a redirect named). */
  knows(address: string): boolean {
    return this.endpoints.includes(address);
  }

  /**
   * A route that tries `first` once (when defined), then goes on as a call that may go anywhere
   * does; `abandoned` is told when `first` failed or redirected (e.g. to drop a stale cache entry).
   */
  preferring(first: string | undefined, abandoned: (address: string) => void): Route {
    if (first === undefined) return this.anyEndpoint;
    let onFirst = true;
    const any = this.anyEndpoint;
    return {
      followsServedBy: true,
      address: () => (onFirst ? first : any.address()),
      moveOn: () => {
        if (!onFirst) {
          any.moveOn();
          return;
        }
        onFirst = false;
        abandoned(first);
        // The preferred endpoint is tried next, unless it is the address that just failed.
        if (any.address() === first) any.moveOn();
      },
      redirect: (leaderAddress) => {
        if (onFirst) {
          onFirst = false;
          abandoned(first);
        }
        return any.redirect(leaderAddress);
      },
    };
  }

  /** A route over `addresses` only, in turn, that never follows redirects (a call meant for one node). */
  pinnedTo(addresses: readonly string[]): Route {
    let index = 0;
    return {
      address: () => addresses[index % addresses.length],
      moveOn: () => {
        index += 1;
      },
      redirect: () => false,
    };
  }

  /**
   * Runs `attempt` until it succeeds, `policy` says it failed for good, or the deadline
   * (`deadlineMs`, else the budget's) or the attempt budget is spent. A redirect to the leader
   * uses an attempt but no backoff. `route` defaults to any endpoint, following redirects.
   */
  async call<T>(policy: RetryPolicy<E>, deadlineMs: number | undefined, attempt: Attempt<Stub, T>, route: Route = this.anyEndpoint): Promise<T> {
    const { budget, newError } = this.options;
    if (this.closed) throw newError('PH_UNAVAILABLE', 'client is closed');
    const deadlineAt = Date.now() + (deadlineMs ?? budget.deadlineMs);
    let backoffMs = budget.backoffInitialMs;
    // Built only when needed: an error captures a stack trace, a real cost on every call.
    let lastError: E | undefined;
    // Leader addresses a redirect named that did not answer (e.g. a pod DNS name this process
    // cannot resolve): not followed again in this call, so the other endpoints get their turn.
    const deadRedirects = new Set<string>();
    let redirectedTo: string | undefined;
    for (let attemptNumber = 0; attemptNumber < budget.attemptsMax; attemptNumber++) {
      const left = deadlineAt - Date.now();
      if (left <= 0) break;
      const address = route.address();
      if (address === undefined) throw newError('PH_BAD_REQUEST', 'no endpoint');
      const callOptions: grpc.CallOptions = { deadline: Date.now() + Math.min(left, budget.attemptDeadlineMs) };
      try {
        const { value, servedBy } = await this.attemptOnce(address, callOptions, attempt);
        if (servedBy !== undefined && servedBy !== address && route.followsServedBy === true) {
          const at = this.endpoints.indexOf(servedBy);
          if (at >= 0) this.current = at;
        }
        return value;
      } catch (err) {
        const verdict = policy.judge(err);
        // A redirect only routes the call: if the call fails, what a node answered for itself
        // says why (a follower's "the leader is node 2", last after every refusal by node 2,
        // hid the refusal: "learner not caught up", "a configuration change is in progress").
        if (verdict.leaderAddress === '' || lastError === undefined) lastError = verdict.error;
        if (address === redirectedTo && verdict.leaderAddress === '') deadRedirects.add(address);
        redirectedTo = undefined;
        if (verdict.leaderAddress !== '' && verdict.leaderAddress !== address && !deadRedirects.has(verdict.leaderAddress) && route.redirect(verdict.leaderAddress)) {
          redirectedTo = verdict.leaderAddress;
          continue;
        }
        if (verdict.next === 'fail') throw verdict.error;
        route.moveOn();
        if (verdict.next === 'fail-after-moving-on') throw verdict.error;
        await sleep(Math.min(backoffMs, Math.max(0, deadlineAt - Date.now())));
        backoffMs = Math.min(backoffMs * 2, budget.backoffMaxMs);
      }
    }
    throw policy.exhausted(lastError ?? policy.noAttemptError());
  }

  private attemptOnce<T>(address: string, callOptions: grpc.CallOptions, attempt: Attempt<Stub, T>): Promise<{ value: T; servedBy: string | undefined }> {
    const metadata = new grpc.Metadata();
    if (this.options.clusterId !== undefined) metadata.set(this.options.metadataKeys.clusterId, this.options.clusterId);
    const servedByKey = this.options.servedByKey;
    let servedBy: string | undefined;
    return new Promise((resolve, reject) => {
      const call = attempt(
        this.stubFor(address),
        metadata,
        callOptions,
        (err, value) => {
          if (err !== null) reject(err);
          else if (value === undefined) reject(this.options.newError('PH_UNAVAILABLE', 'empty response'));
          else resolve({ value, servedBy });
        },
        address,
      );
      // Response headers arrive before the response message (and so before the callback).
      if (servedByKey !== undefined && call instanceof EventEmitter) {
        call.once('metadata', (headers: grpc.Metadata) => {
          const named = headers.get(servedByKey)[0];
          if (typeof named === 'string' && named !== '') servedBy = named;
        });
      }
    });
  }

  private stubFor(address: string): Stub {
    let stub = this.stubs.get(address);
    if (stub === undefined) {
      stub = this.options.connect(address);
      this.stubs.set(address, stub);
    }
    return stub;
  }

  private useLeader(address: string): void {
    let at = this.endpoints.indexOf(address);
    if (at < 0) {
      this.endpoints.push(address);
      at = this.endpoints.length - 1;
    }
    this.current = at;
  }
}

/** What a failed attempt says about itself, read from a gRPC ServiceError (or any thrown value). */
export interface AttemptFailure {
  /** The node's `ph-error-code` when it answered one (as text; the API checks it is one of its codes). */
  readonly phantomCode: string | undefined;
  /** The gRPC status when there is one. */
  readonly status: grpc.status | undefined;
  readonly details: string;
  /** The leader named by a PH_NOT_LEADER answer, unchecked (Number of the metadata, 0 when absent). */
  readonly leaderId: number;
  readonly leaderAddress: string;
}

/** Reads a failed attempt's code, status, details and leader hint. */
export function readAttemptFailure(err: unknown, keys: RpcMetadataKeys): AttemptFailure {
  const serviceError = err as Partial<grpc.ServiceError>;
  const code = serviceError.metadata?.get(keys.errorCode)[0];
  return {
    phantomCode: typeof code === 'string' ? code : undefined,
    status: serviceError.code,
    details: serviceError.details ?? (err instanceof Error ? err.message : String(err)),
    leaderId: Number(serviceError.metadata?.get(keys.leaderId)[0] ?? 0),
    leaderAddress: String(serviceError.metadata?.get(keys.leaderAddress)[0] ?? ''),
  };
}

const unreachableStatuses: ReadonlySet<grpc.status> = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.UNKNOWN, grpc.status.INTERNAL]);

/**
 * Whether a failed call certainly never reached the server: grpc-js fails a call with UNAVAILABLE
 * and "No connection established" when its channel has no connection to send it on (the address
 * refused or could not be reached), before anything was sent. A write failed so may be resent.
 */
export function neverSent(failure: Pick<AttemptFailure, 'status' | 'details'>): boolean {
  return failure.status === grpc.status.UNAVAILABLE && failure.details.includes('No connection established');
}

/**
 * Whether a failed call says the connection to its node failed: none could be established (see
 * neverSent), or the one the call was on broke under it (grpc-js's "Connection dropped": the
 * process died, or its server closed). The node may be down. Any other UNAVAILABLE is an answer
 * from something that is up and means "try again": a stream the server refused (its
 * concurrent-stream limit), an HTTP 503 or 429 from a proxy, a status the server chose.
 */
export function connectionFailed(failure: Pick<AttemptFailure, 'status' | 'details'>): boolean {
  if (failure.status !== grpc.status.UNAVAILABLE) return false;
  return neverSent(failure) || failure.details === 'Connection dropped';
}

/** Whether a status without a PhantomDB code means the node could not be reached (or dropped the call). */
export function isUnreachableStatus(status: grpc.status | undefined): boolean {
  return status !== undefined && unreachableStatuses.has(status);
}
