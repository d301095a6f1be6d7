/**
 * Expected failures of the replicated KV API. Each has a stable `code`; clients branch on it
 * (and on `retriable`), never on message text. They travel over gRPC as a status code plus the
 * `ph-error-code` (and, for NotLeader, `ph-leader-id` / `ph-leader-address`) trailing metadata.
 *
 * The codes still need adding to the project registry (datanode/src/errors.ts, docs/errors.md),
 * which this folder does not own.
 */
export const kvErrorCodes = {
  PH_NOT_LEADER: 'This replica is not the leader; the error names the leader (id and address) when known. Retry there.',
  PH_UNAVAILABLE: 'No leader is known, or the node is starting or stopping. Retry with backoff.',
  PH_DEADLINE_EXCEEDED: 'The request did not finish before its deadline; a write may or may not have taken effect.',
  PH_OUTCOME_UNKNOWN: 'A write was proposed but its fate is unknown (the node stopped or lost track of it); it may or may not have taken effect.',
  PH_PROPOSAL_DROPPED: 'The write was not committed (leadership changed before it was); it did not take effect. Retry.',
  PH_TOO_LARGE: 'A key, value or request exceeded a size limit.',
  PH_BAD_REQUEST: 'A request was malformed (a missing or out-of-range field).',
  PH_OVERLOADED: 'Too many proposals or reads in flight on this node. Retry with backoff.',
  PH_JOIN_REFUSED: 'A join request was refused (node id in use by another address, or wrong cluster).',
  PH_WRONG_CLUSTER: 'The request named another cluster id than this node belongs to.',
  PH_RANGE_MISMATCH: 'The replica asked does not hold the key (the range split or moved); nothing was written. Retry with fresh range descriptors.',
  PH_CLUSTER_VERSION_UNSUPPORTED: "The joining node's binary cannot run the cluster version; both versions are named.",
  PH_FEATURE_NOT_FINALIZED: 'The request needs a format that a newer cluster version introduces, and the cluster version is not finalized there yet; both versions are named.',
} as const;

export type KvErrorCode = keyof typeof kvErrorCodes;

/** Whether a client may retry the request as is (possibly at another node). */
const retriableCodes: ReadonlySet<KvErrorCode> = new Set(['PH_NOT_LEADER', 'PH_UNAVAILABLE', 'PH_PROPOSAL_DROPPED', 'PH_OVERLOADED', 'PH_RANGE_MISMATCH']);

export class KvError extends Error {
  override readonly name = 'KvError';
  constructor(
    readonly code: KvErrorCode,
    message: string,
  ) {
    super(message);
  }

  get retriable(): boolean {
    return retriableCodes.has(this.code);
  }
}

/** A follower's answer: the leader to retry at (0 and '' when unknown). */
export class NotLeaderError extends KvError {
  constructor(
    readonly leaderId: number,
    readonly leaderAddress: string,
  ) {
    super('PH_NOT_LEADER', leaderId === 0 ? 'not the leader; no leader known' : `not the leader; leader is node ${leaderId} at ${leaderAddress || '(unknown address)'}`);
  }
}

export function isKvErrorCode(code: string): code is KvErrorCode {
  return Object.hasOwn(kvErrorCodes, code);
}
