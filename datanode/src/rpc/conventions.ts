/**
 * The wire conventions the data node's gRPC APIs (KV, Admin) share: expected failures travel as a
 * gRPC status plus trailing metadata naming the PhantomDB code (and, for PH_NOT_LEADER, the
 * leader), and a request may name the cluster it is meant for. Each API keeps its own error
 * class and code registry; the shared client and service cores reach them through these types.
 */

/** Metadata keys of error details and of the cluster check. */
export interface RpcMetadataKeys {
  readonly errorCode: string;
  readonly leaderId: string;
  readonly leaderAddress: string;
  readonly clusterId: string;
}

/** Codes every API's registry has, so the shared cores may raise them in that API's error class. */
export type RpcCommonCode = 'PH_BAD_REQUEST' | 'PH_UNAVAILABLE' | 'PH_DEADLINE_EXCEEDED' | 'PH_WRONG_CLUSTER';

/** Builds an expected failure of one API (its own error class) from a shared code. */
export type RpcErrorFactory<E extends Error> = (code: RpcCommonCode, message: string) => E;

/** Where a node that is not the leader says the leader is (0 and '' when unknown). */
export interface LeaderHint {
  readonly leaderId: number;
  readonly leaderAddress: string;
}
