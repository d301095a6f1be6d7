/** Limits of the replicated KV API. Every request is checked against them before it is proposed. */
export interface KvLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  /** Most rows one Scan returns; a larger requested limit is refused. */
  readonly scanRowsMax: number;
  /** Most bytes (keys + values) one Scan returns; the scan stops early (more=true) past it. */
  readonly scanBytesMax: number;
  /** Proposals waiting for commit and apply on this node; more are refused with PH_OVERLOADED. */
  readonly proposalsInFlightMax: number;
  /** Reads waiting for a read index on this node. */
  readonly readsInFlightMax: number;
  /** Deadline of a request that states none, and the largest deadline accepted. */
  readonly requestDeadlineDefaultMs: number;
  readonly requestDeadlineMaxMs: number;
}

export const defaultKvLimits: KvLimits = {
  keyBytesMax: 4096,
  valueBytesMax: 1024 * 1024,
  scanRowsMax: 10_000,
  scanBytesMax: 16 * 1024 * 1024,
  proposalsInFlightMax: 10_000,
  readsInFlightMax: 10_000,
  requestDeadlineDefaultMs: 5_000,
  requestDeadlineMaxMs: 60_000,
};
