/**
 * Expected failures of the admin API, each with a stable code. They travel as a gRPC status plus
 * `ph-error-code` trailing metadata (and, for PH_NOT_LEADER, `ph-leader-id` and
 * `ph-leader-address`), the same keys the KV API uses. Callers branch on `code`, never on text.
 */
export const adminErrorCodes = {
  PH_NOT_LEADER: 'The call needs the cluster leader and this node is not it; the error names the leader when known. Retry there.',
  PH_UNAVAILABLE: 'No leader is known, or the node is starting or stopping. Retry with backoff.',
  PH_DEADLINE_EXCEEDED: 'The call did not finish before its deadline. Admin calls are idempotent: retry.',
  PH_BAD_REQUEST: 'A request field is missing or out of range.',
  PH_WRONG_CLUSTER: 'The request named another cluster id than this node belongs to.',
  PH_NOT_INITIALIZED: 'The node does not belong to a cluster yet.',
  PH_UNKNOWN_NODE: 'No member has the given node id.',
  PH_NOT_CAUGHT_UP: 'The learner lags the leader too far to be promoted yet. Retry later.',
  PH_DECOMMISSION_REFUSED: 'Removing the node would leave fewer nodes than the replication factor needs (or the last voter).',
  PH_ALREADY_DECOMMISSIONED: 'The node finished its decommission and left; it cannot be recommissioned (add it again instead).',
  PH_MEMBERSHIP_CHANGE_IN_PROGRESS: 'Another membership change is being committed. Retry later.',
  PH_IDENTITY_CONFLICT: 'AssignIdentity named another id than the one the node already has (ids are never changed).',
  PH_FINALIZE_REFUSED: 'FinalizeClusterVersion was refused: a member runs an older binary, is not live, or the target is below the cluster version; the nodes are named.',
  PH_UNIMPLEMENTED: 'The node runs a build without this admin call (an older version).',
  PH_FEATURE_NOT_FINALIZED: 'The call needs a format that a newer cluster version introduces, and the cluster version is not finalized there yet; both versions are named.',
} as const;

export type AdminErrorCode = keyof typeof adminErrorCodes;

const retriableCodes: ReadonlySet<AdminErrorCode> = new Set(['PH_NOT_LEADER', 'PH_UNAVAILABLE', 'PH_DEADLINE_EXCEEDED', 'PH_NOT_CAUGHT_UP', 'PH_MEMBERSHIP_CHANGE_IN_PROGRESS']);

export class AdminError extends Error {
  override readonly name: string = 'AdminError';
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** Whether the same call may be repeated (every admin call is idempotent; these are transient). */
  get retriable(): boolean {
    return retriableCodes.has(this.code);
  }
}

/** A node's answer to a call that needs the leader: where to retry (0 and '' when unknown). */
export class NotLeaderError extends AdminError {
  override readonly name = 'NotLeaderError';
  constructor(
    readonly leaderId: number,
    readonly leaderAddress: string,
  ) {
    super('PH_NOT_LEADER', leaderId === 0 ? 'not the leader; no leader known' : `not the leader; leader is node ${leaderId} at ${leaderAddress || '(unknown address)'}`);
  }
}

export function isAdminErrorCode(code: string): code is AdminErrorCode {
  return Object.hasOwn(adminErrorCodes, code);
}
